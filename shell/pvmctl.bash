# bash completion for pvmctl(1): commands, their options, VM names from pvmd, config files.

_pvmctl_vms()
{
	pvmctl --json list 2>/dev/null | sed -n 's/^ *"name" *: *"\([^"]*\)".*/\1/p'
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

	local commands="start stop kill remove inspect list console connect logs monitor config policy"
	local cmd="" i
	for ((i = 1; i < cword; i++)); do
		case "${words[i]}" in
		-*) ;;
		*) cmd="${words[i]}"; break ;;
		esac
	done

	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$commands --json --help --version --policy-dir --no-file-check" -- "$cur"))
		return
	fi

	case "$prev" in
	--timeout|--name) return ;;
	--disk|--disk-rw) _pvmctl_files; return ;;
	--policy-dir) _pvmctl_files -d; return ;;
	esac

	case "$cmd" in
	start)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--name --disk --disk-rw --wait-ready --tie --timeout --json" -- "$cur"))
		else
			_pvmctl_files json
		fi ;;
	stop)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--timeout --force --no-wait" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_pvmctl_vms)" -- "$cur"))
		fi ;;
	kill|remove|console|logs)
		[[ $cmd == kill && $cur == -* ]] && { COMPREPLY=($(compgen -W "--no-wait" -- "$cur")); return; }
		COMPREPLY=($(compgen -W "$(_pvmctl_vms)" -- "$cur")) ;;
	connect)
		# NAME, then a port number
		[[ ${words[cword-1]} == connect ]] && COMPREPLY=($(compgen -W "$(_pvmctl_vms)" -- "$cur")) ;;
	inspect)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--json" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_pvmctl_vms)" -- "$cur"))
		fi ;;
	list|monitor)
		COMPREPLY=($(compgen -W "--json" -- "$cur")) ;;
	config)
		if [[ ${words[cword-1]} == config ]]; then
			COMPREPLY=($(compgen -W "check" -- "$cur"))
		else
			_pvmctl_files json
		fi ;;
	policy)
		if [[ ${words[cword-1]} == policy ]]; then
			COMPREPLY=($(compgen -W "check" -- "$cur"))
		else
			_pvmctl_files -d
		fi ;;
	esac
}

complete -F _pvmctl pvmctl
