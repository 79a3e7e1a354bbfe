# Sourced by the scripts that start background processes (scripts/checks/pipelines.sh, and
# scripts/pipeline.sh): each one in a process group of its own, bounded in time, and every group
# stopped on every way out of the script. Needs setsid and timeout (util-linux, coreutils).
#
#   spawn SECONDS LOG CMD...   runs CMD under `timeout SECONDS` in a new session (setsid), its
#                              output appended to LOG, stdin from /dev/null; sets $spawned to the
#                              process-group id and records it for stop_spawned
#   stop_group PGID            TERM to the whole group, up to 5 s for it to go, then KILL
#   stop_spawned               stop_group for every group spawn started
#   spawned_gone               succeeds when no process is left in those groups; else prints
#                              them and fails
#   on_exit COMMANDS           the EXIT trap (stop_spawned, then COMMANDS); INT and TERM exit
#                              through it, so Ctrl-C or a CI timeout stops the groups too
#
# The script must not run with job control (`set -m`, the default off in scripts): then a
# background child is not a group leader, setsid does not fork, and $! is the group's id.

spawned_groups=()

spawn() {
  local limit="$1" log="$2"
  shift 2
  setsid timeout "$limit" "$@" >>"$log" 2>&1 </dev/null &
  spawned=$!
  spawned_groups+=("$spawned")
  # Out of the shell's job table: no "Killed" notice when stop_group ends it.
  disown "$spawned"
}

stop_group() {
  local g="$1" n=0
  kill -TERM -- "-$g" 2>/dev/null || return 0
  while [ "$n" -lt 50 ] && kill -0 -- "-$g" 2>/dev/null; do
    sleep 0.1
    n=$((n + 1))
  done
  kill -KILL -- "-$g" 2>/dev/null || true
}

stop_spawned() {
  local g
  for g in "${spawned_groups[@]}"; do stop_group "$g"; done
}

spawned_gone() {
  local g gone=0
  for g in "${spawned_groups[@]}"; do
    # A zombie has ended already (only its parent's wait is left), so it does not count.
    if ps -eo pgid=,stat=,pid=,args= | awk -v g="$g" '$1 == g && $2 !~ /^Z/' | grep .; then gone=1; fi
  done
  return "$gone"
}

on_exit() {
  # shellcheck disable=SC2064 # the commands are fixed now, on purpose
  trap "stop_spawned; $1" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
