# bash completion for pvmctl(1): commands, their options, VM names from pvmd, config files.
# Commands and options come from pvmctl's own help, VM names from `pvmctl list --no-legend`
# (first column; VM names have no blanks): no JSON parsing, no jq.

_pvmctl_vms()
{
	pvmctl list --no-legend 2>/dev/null | while read -r name _; do printf '%s\n' "$name"; done
}

# The options of COMMAND ("" for the global ones), as `pvmctl help COMMAND` lists them.
_pvmctl_options() # [COMMAND...]
{
	pvmctl help "$@" 2>/dev/null | sed -n 's/^  \(-[a-z], \)\{0,1\}\(--[a-z-]*\).*/\2/p'
}

_pvmctl_files() # [-d] [ext]
{
	if declare -F _filedir >/dev/null; then
		_filedir "$@"
	elif [[ $1 == -d ]]; then
		COMPREPLY=($(compgen -d -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}

_pvmctl()
{
	local cur prev words cword
	# bash-completion's helpers when it is installed; plain bash otherwise
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	local commands="start restart stop kill remove inspect list console connect listen logs monitor config policy payload help"
	local cmd="" sub="" i
	for ((i = 1; i < cword; i++)); do
		case "${words[i]}" in
		--timeout|--name|-n|--policy-dir|--disk|--disk-rw|--key|--kernel|--initrd|--cmdline|--output|-o) ((i++)) ;; # skip the option's value
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd="${words[i]}"
			elif [[ -z $sub ]]; then
				sub="${words[i]}"
			fi ;;
		esac
	done

	case "$prev" in
	--timeout|--name|-n|--cmdline) return ;;
	--policy-dir) _pvmctl_files -d; return ;;
	--disk|--disk-rw|--key|--kernel|--initrd|--output|-o) _pvmctl_files; return ;;
	esac

	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$commands --json --help --version" -- "$cur"))
		return
	fi
	if [[ $cur == -* ]]; then
		case "$cmd" in
		config|policy) COMPREPLY=($(compgen -W "$(_pvmctl_options "$cmd" check)" -- "$cur")) ;;
		payload) COMPREPLY=($(compgen -W "$(_pvmctl_options payload sign)" -- "$cur")) ;;
		*) COMPREPLY=($(compgen -W "$(_pvmctl_options "$cmd")" -- "$cur")) ;;
		esac
		return
	fi

	case "$cmd" in
	start)
		[[ -n $sub ]] && return
		_pvmctl_files json
		COMPREPLY+=($(compgen -W "$(_pvmctl_vms)" -- "$cur")) ;;
	connect|listen) # NAME, then a port number
		[[ -n $sub ]] && return
		COMPREPLY=($(compgen -W "$(_pvmctl_vms)" -- "$cur")) ;;
	restart|stop|kill|remove|inspect|console|logs)
		[[ -n $sub ]] && return
		COMPREPLY=($(compgen -W "$(_pvmctl_vms)" -- "$cur")) ;;
	help)
		[[ -n $sub ]] && return
		COMPREPLY=($(compgen -W "$commands" -- "$cur")) ;;
	config)
		if [[ -z $sub ]]; then
			COMPREPLY=($(compgen -W "check" -- "$cur"))
		else
			_pvmctl_files json
		fi ;;
	policy)
		if [[ -z $sub ]]; then
			COMPREPLY=($(compgen -W "check" -- "$cur"))
		else
			_pvmctl_files -d
		fi ;;
	payload)
		[[ -z $sub ]] && COMPREPLY=($(compgen -W "sign" -- "$cur")) ;;
	esac
}

complete -F _pvmctl pvmctl
