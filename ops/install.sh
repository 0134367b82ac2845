#!/usr/bin/env bash
# Installs the RentGuy CRM suite on a host (docs/deploy.md): the code under PREFIX, its virtual environment,
# the operators' commands crm, pytest and alembic (the suite's, working as the playbook types them), the
# environment file from ops/systemd/crm.env.example when there is none yet, and the systemd units.
# Safe to run again for an upgrade: it never overwrites the environment file.
#
#   sudo ops/install.sh                      # /opt/rentguy-crm, /etc/rentguy-crm, /etc/systemd/system
#   ops/install.sh --prefix /tmp/crm --env-dir /tmp/crm-etc --systemd-dir /tmp/units --profile-dir /tmp/profile \
#                  --no-user                 # anywhere, as anyone (what the tests do)
set -euo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/opt/rentguy-crm
ENV_DIR=/etc/rentguy-crm
SYSTEMD_DIR=/etc/systemd/system
PROFILE_DIR=/etc/profile.d
PYTHON=python3
SERVICE_USER=crm
CREATE_USER=1

usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  echo "options: --prefix DIR --env-dir DIR --systemd-dir DIR --profile-dir DIR --python PYTHON --user NAME --no-user"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --env-dir) ENV_DIR="$2"; shift 2 ;;
    --systemd-dir) SYSTEMD_DIR="$2"; shift 2 ;;
    --profile-dir) PROFILE_DIR="$2"; shift 2 ;;
    --python) PYTHON="$2"; shift 2 ;;
    --user) SERVICE_USER="$2"; shift 2 ;;
    --no-user) CREATE_USER=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

say() { printf '== %s\n' "$*"; }

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || { echo "install.sh: $PYTHON is missing or older than 3.11" >&2; exit 2; }

if [ "$CREATE_USER" = 1 ] && ! id "$SERVICE_USER" >/dev/null 2>&1; then
  say "system user $SERVICE_USER"
  useradd --system --home-dir "$PREFIX" --shell /usr/sbin/nologin "$SERVICE_USER"
fi

say "code in $PREFIX"
mkdir -p "$PREFIX"
if [ "$(cd "$PREFIX" && pwd)" != "$SOURCE" ]; then
  # The checkout without its local state: no virtual environment, no data, no git history.
  tar -C "$SOURCE" --exclude=./.venv --exclude=./var --exclude=./.git --exclude='*.egg-info' \
      --exclude='__pycache__' --exclude=./node_modules -cf - . | tar -C "$PREFIX" -xf -
fi
mkdir -p "$PREFIX/var"

say "virtual environment $PREFIX/.venv"
[ -x "$PREFIX/.venv/bin/python" ] || "$PYTHON" -m venv "$PREFIX/.venv"
# The test extra brings pytest for the playbook's smoke tests (pytest -m tenant_smoke).
"$PREFIX/.venv/bin/pip" install --disable-pip-version-check -q -c "$PREFIX/constraints.txt" -e "$PREFIX[test]"

say "commands in $PREFIX/bin (on the operators' PATH through $PROFILE_DIR/rentguy-crm.sh)"
mkdir -p "$PREFIX/bin"
write_command() {  # name, what it runs, "env" to read the host's environment file, "chdir" to start in PREFIX
  local name="$1" run="$2" env="$3" chdir="$4"
  {
    echo '#!/bin/sh'
    echo "# The suite's $name (ops/install.sh), so the playbook's commands work as typed from any directory."
    [ "$env" = env ] && echo "if [ -r '$ENV_DIR/crm.env' ]; then set -a; . '$ENV_DIR/crm.env'; set +a; fi"
    [ "$chdir" = chdir ] && echo "cd '$PREFIX' || exit 1"
    echo "exec $run \"\$@\""
  } > "$PREFIX/bin/$name"
  chmod 0755 "$PREFIX/bin/$name"
}
write_command crm "'$PREFIX/.venv/bin/crm'" env stay
# alembic works on the database the units use (CRM_DATABASE_URL from the environment file).
write_command alembic "'$PREFIX/.venv/bin/alembic' -c '$PREFIX/alembic.ini'" env stay
# The suite's tests (the playbook's tenant smoke tests) run on their own scratch database and must never see
# the host's secrets: no environment file here.
write_command pytest "'$PREFIX/.venv/bin/pytest' -p no:cacheprovider" noenv chdir
mkdir -p "$PROFILE_DIR"
cat > "$PROFILE_DIR/rentguy-crm.sh" <<PROFILE
# The RentGuy CRM suite's commands (crm, pytest, alembic) come first on the PATH (ops/install.sh).
case ":\$PATH:" in *":$PREFIX/bin:"*) ;; *) PATH="$PREFIX/bin:\$PATH"; export PATH ;; esac
PROFILE

say "environment file $ENV_DIR/crm.env"
mkdir -p "$ENV_DIR"
if [ ! -e "$ENV_DIR/crm.env" ]; then
  install -m 0640 "$PREFIX/ops/systemd/crm.env.example" "$ENV_DIR/crm.env"
  echo "   new: fill in its empty values before starting the units (docs/deploy.md)"
else
  echo "   kept as it is (compare with $PREFIX/ops/systemd/crm.env.example for new settings)"
fi
if [ "$CREATE_USER" = 1 ]; then
  chown root:"$SERVICE_USER" "$ENV_DIR/crm.env"
  chown -R "$SERVICE_USER":"$SERVICE_USER" "$PREFIX/var"
fi

say "systemd units in $SYSTEMD_DIR"
mkdir -p "$SYSTEMD_DIR"
for unit in "$PREFIX"/ops/systemd/*.service; do
  sed -e "s|/opt/rentguy-crm|$PREFIX|g" -e "s|/etc/rentguy-crm|$ENV_DIR|g" \
      -e "s|^User=crm$|User=$SERVICE_USER|" -e "s|^Group=crm$|Group=$SERVICE_USER|" \
      "$unit" > "$SYSTEMD_DIR/$(basename "$unit")"
done
if [ "$SYSTEMD_DIR" = /etc/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload || true
fi

cat <<NEXT
Installed. Next (docs/deploy.md):
  1. fill in $ENV_DIR/crm.env
  2. crm db upgrade && crm tenants provision $PREFIX/configs/tenants/mrdj.json
     crm workflows sync --tenant mrdj && crm templates clone --tenant mrdj --publish
  3. systemctl enable --now mrdj-crm-api mrdj-crm-workers
Operators: log in again (or '. $PROFILE_DIR/rentguy-crm.sh') to get crm, pytest and alembic on the PATH.
NEXT
