# Sourced by the scripts: puts cargo on the PATH when rustup installed it
# per user and it is not there (under sudo, the invoking user's
# ~/.cargo/bin; else this user's). rustup's proxies find their toolchains
# through RUSTUP_HOME and CARGO_HOME, which default to $HOME's: under sudo
# $HOME is root's, so they are pointed at the invoking user's as well.
if ! command -v cargo >/dev/null; then
  for home in ${SUDO_USER:+"$(getent passwd "$SUDO_USER" | cut -d: -f6)"} "$HOME"; do
    if [ -x "$home/.cargo/bin/cargo" ]; then
      export PATH="$home/.cargo/bin:$PATH"
      if [ "$home" != "$HOME" ]; then
        export CARGO_HOME="${CARGO_HOME:-$home/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$home/.rustup}"
      fi
      break
    fi
  done
fi
