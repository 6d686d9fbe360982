# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_reporter_global_optspecs
    string join \n config= v/verbose q/quiet color= log-format= h/help V/version
end

function __fish_reporter_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_reporter_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_reporter_using_subcommand
    set -l cmd (__fish_reporter_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c reporter -n "__fish_reporter_needs_command" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_needs_command" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_needs_command" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_needs_command" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_needs_command" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_needs_command" -s V -l version -d 'Print version'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "run" -d 'Run jobs and mail their reports'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "preview" -d 'Run jobs and print their messages as mbox on stdout; send nothing'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "list" -d 'List the jobs with their schedule, next run and last status'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "check" -d 'Check the configuration, every job and every template; print every problem'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "flush" -d 'Retry the mail waiting in the spool now'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "history" -d 'Show the recorded runs, newest first'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "status" -d 'Show every job at a glance: last status and for how long, last ok, durations, next run'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "daemon" -d 'Run the jobs on their schedules until SIGTERM'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "silence" -d 'Silence jobs for a while: they run and are recorded, but mail nobody'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "unsilence" -d 'End silences before their time (they are kept, as ended ones, for 30 days)'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "man" -d 'Print a manual page (roff) on stdout: reporter(1), reporter.yaml(5) or reporter-templates(7)'
complete -c reporter -n "__fish_reporter_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c reporter -n "__fish_reporter_using_subcommand run" -l schedule -d 'The jobs whose schedule is this period (what cron.daily and friends run)' -r -f -a "hourly\t''
daily\t''
weekly\t''
monthly\t''"
complete -c reporter -n "__fish_reporter_using_subcommand run" -l hosts -d 'Run on these hosts instead of each job\'s `hosts:` (ssh destinations, @groups, localhost)' -r
complete -c reporter -n "__fish_reporter_using_subcommand run" -s j -l jobs -d 'Concurrent commands [default: the config\'s pool_size]' -r
complete -c reporter -n "__fish_reporter_using_subcommand run" -l to -d 'Send every report to ADDR instead of its recipients (repeatable)' -r
complete -c reporter -n "__fish_reporter_using_subcommand run" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand run" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_using_subcommand run" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_using_subcommand run" -l all -d 'Every job in the jobs folder'
complete -c reporter -n "__fish_reporter_using_subcommand run" -l digest -d 'One message for all the selected jobs, a section each, from and to the config\'s addresses'
complete -c reporter -n "__fish_reporter_using_subcommand run" -l json -d 'Also print the run\'s outcome as one JSON object on stdout (nothing else goes there)'
complete -c reporter -n "__fish_reporter_using_subcommand run" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_using_subcommand run" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_using_subcommand preview" -l schedule -d 'The jobs whose schedule is this period (what cron.daily and friends run)' -r -f -a "hourly\t''
daily\t''
weekly\t''
monthly\t''"
complete -c reporter -n "__fish_reporter_using_subcommand preview" -l hosts -d 'Run on these hosts instead of each job\'s `hosts:` (ssh destinations, @groups, localhost)' -r
complete -c reporter -n "__fish_reporter_using_subcommand preview" -s j -l jobs -d 'Concurrent commands [default: the config\'s pool_size]' -r
complete -c reporter -n "__fish_reporter_using_subcommand preview" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand preview" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_using_subcommand preview" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_using_subcommand preview" -l all -d 'Every job in the jobs folder'
complete -c reporter -n "__fish_reporter_using_subcommand preview" -l html -d 'Print only the rendered HTML body of each message (to open in a browser)'
complete -c reporter -n "__fish_reporter_using_subcommand preview" -l digest -d 'One message for all the selected jobs, a section each'
complete -c reporter -n "__fish_reporter_using_subcommand preview" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_using_subcommand preview" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_using_subcommand preview" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_using_subcommand list" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand list" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_using_subcommand list" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_using_subcommand list" -l json -d 'Print a JSON array'
complete -c reporter -n "__fish_reporter_using_subcommand list" -l names -d 'Print only the job names, one per line (for shell completion)'
complete -c reporter -n "__fish_reporter_using_subcommand list" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_using_subcommand list" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_using_subcommand check" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand check" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_using_subcommand check" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_using_subcommand check" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_using_subcommand check" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_using_subcommand flush" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand flush" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_using_subcommand flush" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_using_subcommand flush" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_using_subcommand flush" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_using_subcommand flush" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_using_subcommand history" -l limit -d 'At most N runs' -r
complete -c reporter -n "__fish_reporter_using_subcommand history" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand history" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_using_subcommand history" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_using_subcommand history" -l json -d 'Print a JSON array'
complete -c reporter -n "__fish_reporter_using_subcommand history" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_using_subcommand history" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_using_subcommand history" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_using_subcommand status" -l html -d 'Write the status page (self-contained HTML) to FILE instead of printing the table' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand status" -l hosts -d 'Ask these hosts over ssh (`ssh.reporter status --json`) and show them as one host × job matrix' -r
complete -c reporter -n "__fish_reporter_using_subcommand status" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand status" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_using_subcommand status" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_using_subcommand status" -l json -d 'Print one JSON object (the jobs of this host) instead of the table'
complete -c reporter -n "__fish_reporter_using_subcommand status" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_using_subcommand status" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_using_subcommand daemon" -l pidfile -d 'Write the daemon\'s process id here; removed on exit' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand daemon" -l log-file -d 'Append the log here instead of stderr; reopened on SIGHUP' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand daemon" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand daemon" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_using_subcommand daemon" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_using_subcommand daemon" -l detach -d 'Go to the background (double fork, setsid); for init systems without supervision'
complete -c reporter -n "__fish_reporter_using_subcommand daemon" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_using_subcommand daemon" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_using_subcommand daemon" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_using_subcommand silence" -l for -d 'How long, from now (30m, 2h, 1d)' -r
complete -c reporter -n "__fish_reporter_using_subcommand silence" -l until -d 'Until when: RFC 3339, or "YYYY-MM-DD HH:MM" in the config\'s time zone' -r
complete -c reporter -n "__fish_reporter_using_subcommand silence" -l reason -d 'Why: shown with the silence and recorded with every run it silences' -r
complete -c reporter -n "__fish_reporter_using_subcommand silence" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand silence" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_using_subcommand silence" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_using_subcommand silence" -l all -d 'Every job, those added later too'
complete -c reporter -n "__fish_reporter_using_subcommand silence" -l list -d 'List the silences in force or to come, and the maintenance windows'
complete -c reporter -n "__fish_reporter_using_subcommand silence" -l json -d 'With --list: print a JSON array'
complete -c reporter -n "__fish_reporter_using_subcommand silence" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_using_subcommand silence" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_using_subcommand silence" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_using_subcommand unsilence" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand unsilence" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_using_subcommand unsilence" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_using_subcommand unsilence" -l all -d 'Every silence in force or to come'
complete -c reporter -n "__fish_reporter_using_subcommand unsilence" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_using_subcommand unsilence" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_using_subcommand unsilence" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_using_subcommand completions" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand completions" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_using_subcommand completions" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_using_subcommand completions" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_using_subcommand completions" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_using_subcommand man" -l config -d 'Configuration file [default: ./reporter.yaml, else /etc/reporter/reporter.yaml]' -r -F
complete -c reporter -n "__fish_reporter_using_subcommand man" -l color -d 'Colour diagnostics and statuses: on a terminal (auto, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c reporter -n "__fish_reporter_using_subcommand man" -l log-format -d 'Diagnostics on stderr as text lines or one JSON object per line [default: the config\'s log_format, else text]' -r -f -a "text\t'`reporter: warning: ...` lines (with syslog priorities under systemd)'
json\t'One JSON object per line: timestamp, level, message and the event\'s fields'"
complete -c reporter -n "__fish_reporter_using_subcommand man" -s v -l verbose -d 'Say more (-v: each event, -vv: debugging)'
complete -c reporter -n "__fish_reporter_using_subcommand man" -s q -l quiet -d 'Print errors only'
complete -c reporter -n "__fish_reporter_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "run" -d 'Run jobs and mail their reports'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "preview" -d 'Run jobs and print their messages as mbox on stdout; send nothing'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "list" -d 'List the jobs with their schedule, next run and last status'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "check" -d 'Check the configuration, every job and every template; print every problem'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "flush" -d 'Retry the mail waiting in the spool now'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "history" -d 'Show the recorded runs, newest first'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "status" -d 'Show every job at a glance: last status and for how long, last ok, durations, next run'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "daemon" -d 'Run the jobs on their schedules until SIGTERM'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "silence" -d 'Silence jobs for a while: they run and are recorded, but mail nobody'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "unsilence" -d 'End silences before their time (they are kept, as ended ones, for 30 days)'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "man" -d 'Print a manual page (roff) on stdout: reporter(1), reporter.yaml(5) or reporter-templates(7)'
complete -c reporter -n "__fish_reporter_using_subcommand help; and not __fish_seen_subcommand_from run preview list check flush history status daemon silence unsilence completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c reporter -n "__fish_seen_subcommand_from run preview history silence status" -f -a "(reporter list --names 2>/dev/null)" -d job
