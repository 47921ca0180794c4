# Shared by the shell tests of the tool (sourced): checks that count passes
# and failures in $passes and $fails and keep a command's output in
# $tmp/out and $tmp/err.
check() { # name expected-exit command...
    name=$1; want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL $name: exit $got, want $want"; cat "$tmp/out" "$tmp/err"; fails=$((fails+1))
    else
        echo "ok   $name"; passes=$((passes+1))
    fi
}
grep_in() { # name file pattern
    if grep -q -- "$3" "$tmp/$2"; then echo "ok   $1"; passes=$((passes+1));
    else echo "FAIL $1: '$3' not in $2:"; cat "$tmp/$2"; fails=$((fails+1)); fi
}
one_line() { # name file
    n=$(wc -l < "$tmp/$2")
    if [ "$n" -eq 1 ]; then echo "ok   $1"; passes=$((passes+1));
    else echo "FAIL $1: $n lines on $2"; cat "$tmp/$2"; fails=$((fails+1)); fi
}
