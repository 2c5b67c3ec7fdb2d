# Sourced by the scripts: puts cargo on the PATH when rustup installed it
# per user and it is not there (under sudo, the invoking user's
# ~/.cargo/bin; else this user's).
if ! command -v cargo >/dev/null; then
  for d in ${SUDO_USER:+"$(getent passwd "$SUDO_USER" | cut -d: -f6)/.cargo/bin"} "$HOME/.cargo/bin"; do
    if [ -x "$d/cargo" ]; then
      export PATH="$d:$PATH"
      break
    fi
  done
fi
