#!/usr/bin/env bash
# Start MariaDB and RabbitMQ (a compute cloud of the real testbed needs both) if they are not
# answering; install them first on a machine that has neither.
set -u

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # port name
  for _ in $(seq 1 60); do
    answers "$1" && return 0
    sleep 1
  done
  echo "error: $2 is not answering on 127.0.0.1:$1" >&2
  return 1
}

install_missing() {
  local missing=()
  [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server mariadb-client)
  command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
  if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
}

status=0
if ! answers 3306 || ! answers 5672; then
  install_missing
fi
if ! answers 3306; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for 3306 MariaDB || status=1
fi
if ! answers 5672; then
  rabbitmq-server -detached
  wait_for 5672 RabbitMQ || status=1
fi
exit $status
