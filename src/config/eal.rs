//! Reads the lcore set out of EAL arguments, so `--workers` is checked
//! before EAL starts rather than failing inside it.
use std::collections::BTreeSet;

/// Why an EAL lcore argument could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot read EAL lcore argument `{option} {value}`: {problem}")]
pub struct LcoreArgError {
    pub option: String,
    pub value: String,
    pub problem: &'static str,
}

/// Number of distinct lcores named by `-l`, `--lcores` or `-c` (the last of
/// them wins, as in EAL's own option parsing); `None` when none is given,
/// in which case EAL uses every CPU of the process and nothing is checked.
pub fn lcore_count(eal: &[String]) -> Result<Option<usize>, LcoreArgError> {
    let mut last: Option<(String, String)> = None;
    let mut i = 0;
    while i < eal.len() {
        let arg = eal[i].as_str();
        let next = eal.get(i + 1).cloned();
        let mut take = |opt: &str, inline: Option<&str>| -> bool {
            match inline {
                Some(v) => {
                    last = Some((opt.to_owned(), v.to_owned()));
                    false
                }
                None => {
                    last = Some((opt.to_owned(), next.clone().unwrap_or_default()));
                    true
                }
            }
        };
        let consumed_next = if arg == "-l" || arg == "--lcores" || arg == "-c" {
            take(arg, None)
        } else if let Some(v) = arg.strip_prefix("--lcores=") {
            take("--lcores", Some(v))
        } else if let Some(v) = arg.strip_prefix("-l").filter(|_| !arg.starts_with("--")) {
            take("-l", Some(v))
        } else if let Some(v) = arg.strip_prefix("-c").filter(|_| !arg.starts_with("--")) {
            take("-c", Some(v))
        } else {
            false
        };
        i += if consumed_next { 2 } else { 1 };
    }
    let Some((opt, value)) = last else {
        return Ok(None);
    };
    let err = |problem| LcoreArgError {
        option: opt.clone(),
        value: value.clone(),
        problem,
    };
    if value.is_empty() {
        return Err(err("the option has no value"));
    }
    let count = if opt == "-c" {
        count_mask(&value).ok_or_else(|| err("a core mask is hexadecimal, e.g. 0x1f"))?
    } else {
        count_lcore_list(&value)
            .ok_or_else(|| err("expected a list such as 0-4 or 0,2,4 or (0-3)@1"))?
    };
    if count == 0 {
        return Err(err("it names no lcore"));
    }
    Ok(Some(count))
}

fn count_mask(mask: &str) -> Option<usize> {
    let hex = mask
        .strip_prefix("0x")
        .or_else(|| mask.strip_prefix("0X"))
        .unwrap_or(mask);
    if hex.is_empty() {
        return None;
    }
    hex.chars().try_fold(0usize, |n, c| {
        Some(n + c.to_digit(16)?.count_ones() as usize)
    })
}

/// Counts lcore ids in `-l 0-3,5` or `--lcores '(0-3)@1,4@2,5'` syntax; the
/// `@cpus` part says where an lcore runs and does not add lcores.
fn count_lcore_list(list: &str) -> Option<usize> {
    let mut ids = BTreeSet::new();
    for element in split_top_level(list)? {
        let lcores = match element.find('@') {
            Some(at) if !in_parens_at(element, at) => &element[..at],
            _ => element,
        };
        let inner = lcores
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or(lcores);
        for item in inner.split(',') {
            let item = item.trim();
            let (lo, hi) = match item.split_once('-') {
                Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
                None => {
                    let n = item.parse::<u32>().ok()?;
                    (n, n)
                }
            };
            if lo > hi || hi - lo > 1 << 16 {
                return None;
            }
            ids.extend(lo..=hi);
        }
    }
    Some(ids.len())
}

/// Splits at commas that are not inside parentheses.
fn split_top_level(s: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return None;
    }
    out.push(&s[start..]);
    Some(out)
}

fn in_parens_at(s: &str, pos: usize) -> bool {
    let before = &s[..pos];
    before.matches('(').count() > before.matches(')').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lcore_forms() {
        assert_eq!(lcore_count(&v(&["-n", "4"])), Ok(None));
        assert_eq!(lcore_count(&v(&["-l", "0-4", "-n", "4"])), Ok(Some(5)));
        assert_eq!(lcore_count(&v(&["-l0,2,4"])), Ok(Some(3)));
        assert_eq!(lcore_count(&v(&["--lcores=(0-3)@1,4@2,5"])), Ok(Some(6)));
        assert_eq!(lcore_count(&v(&["--lcores", "0@(0,1),1-2"])), Ok(Some(3)));
        assert_eq!(lcore_count(&v(&["-c", "0x1f"])), Ok(Some(5)));
        assert_eq!(lcore_count(&v(&["-cff"])), Ok(Some(8)));
        // The last lcore option wins.
        assert_eq!(lcore_count(&v(&["-l", "0-7", "-l", "0-1"])), Ok(Some(2)));
        // Other long options starting with -l / -c are not lcore options.
        assert_eq!(
            lcore_count(&v(&["--log-level", "8", "--create-uio-dev"])),
            Ok(None)
        );
        assert!(lcore_count(&v(&["-l", "4-2"])).is_err());
        assert!(lcore_count(&v(&["-l"])).is_err());
        assert!(lcore_count(&v(&["-c", "0xg"])).is_err());
        assert!(lcore_count(&v(&["-c", "0x0"])).is_err());
        assert!(lcore_count(&v(&["--lcores", "(0-1"])).is_err());
    }
}
