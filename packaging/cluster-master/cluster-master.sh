#!/bin/sh
# cluster-master for admins on the master host: the same settings as the
# service (/etc/cluster-master/master.env), so `cluster-master worker list`
# reaches the service's database. A variable already set in the caller's
# environment wins over the file, as it does for the service's own flags.
env_file=/etc/cluster-master/master.env

if [ -r "$env_file" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in '' | '#'* | ';'*) continue ;; esac
    key=${line%%=*}
    value=${line#*=}
    case $key in '' | *[!A-Za-z0-9_]* | [0-9]*) continue ;; esac
    case $value in \"*\") value=${value#\"} value=${value%\"} ;; \'*\') value=${value#\'} value=${value%\'} ;; esac
    eval "already=\${$key+set}"
    [ "$already" = set ] || export "$key=$value"
  done <"$env_file"
elif [ -e "$env_file" ] && [ -z "${MONGODB_URI-}${MONGODB_HOST-}" ]; then
  echo "cluster-master: cannot read $env_file (it is mode 0600: run as root, or set MONGODB_URI yourself)" >&2
fi

exec /usr/lib/cluster-master/cluster-master "$@"
