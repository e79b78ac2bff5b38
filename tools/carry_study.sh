#!/usr/bin/env bash
# Carry a study's record between sittings: `make carry RUN=../lrgb-run [STUDY=lrgb_seed]`, from the checkout that
# commits it (docs/results.md, "A tier-2 cell carries its checkpoint in git").
#
# From RUN/results/STUDY (the worktree the workers ran in) into ./results/STUDY, staged for the next commit:
#   - the record (results.csv, results.md, cells.json, histories, provenance.json, plots, ...), copied over
#     (results.md only once a cell is recorded: before, a sitting leaves a table of no rows);
#   - the running cells' checkpoints (.checkpoints/<cell>/checkpoint.pt and history.csv), staged with `git add -f`
#     (.gitignore ignores .checkpoints/), replacing the last ones; a carried checkpoint whose cell has since been
#     recorded (the engine deletes it) is staged for removal;
#   - the recorded cells' kept models (.models/<cell>.pt, of a sitting run with keep_models=true), staged with
#     `git add -f`: a cell that finishes in one sitting keeps its trained model for a diagnostic of trained models
#     (diagnostic=lrgb_trained) in a later one, which may start on a fresh machine.
# Refused, before anything is copied, while a sitting still runs there: its checkpoint would be of an epoch ago.
# The sittings registry, claims and locks stay where they are.
#
# `--recorded` (`make carry RUN=... RECORDED=1`) carries only what is finished, while the other cells still run: the
# record and the recorded cells' kept models as above, and the removal of a carried checkpoint whose cell is recorded
# since; the running cells' carried checkpoints stay as they were committed (their in-flight copies are not taken).
# So a cell is committed as soon as it records, and the sitting's end carries the rest with a plain `make carry`.
set -euo pipefail

die() { echo "error: $*" >&2; exit 2; }

recorded=false
if [ "${1:-}" = --recorded ]; then recorded=true; shift; fi
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: tools/carry_study.sh [--recorded] RUN [STUDY]: RUN is the worktree the workers ran in (e.g. ../lrgb-run), STUDY defaults to lrgb_seed"
run=$1
study=${2:-lrgb_seed}
src=$run/results/$study
dst=results/$study
[ -d "$src" ] || die "$src is not a study folder: give the worktree the workers ran in (make carry RUN=../lrgb-run STUDY=$study)"
git rev-parse --show-toplevel >/dev/null 2>&1 && [ "$(cd "$(git rev-parse --show-toplevel)" && pwd -P)" = "$(pwd -P)" ] \
    || die "run it from the top of the checkout that commits the record, not from $(pwd)"
[ "$(cd "$src" && pwd -P)" != "$(pwd -P)/$dst" ] || die "RUN is this checkout: its record is already here; git add -f its checkpoints"

if [ "$recorded" = false ] && [ -d "$src/.sittings" ]; then
    for announcement in "$src"/.sittings/*.json; do
        [ -e "$announcement" ] || continue
        if ! flock -n "$announcement" true; then  # a running sitting holds its announcement's lock (studies/record.py)
            pid=$(sed -n 's/^{"pid": \([0-9]*\).*/\1/p' "$announcement")
            die "a sitting (pid ${pid:-?}) still runs in $src; stop it first: kill -TERM ${pid:-<pid>} (it finishes its epoch and prints a stopped: line), then rerun"
        fi
    done
fi

mkdir -p "$dst"
for item in "$src"/* "$src"/.[!.]*; do
    [ -e "$item" ] || continue
    case $(basename "$item") in
        .checkpoints|.models|.sittings|.claims|.lock) ;;  # below, or staying there
        results.md) [ -f "$src/results.csv" ] && cp -a "$item" "$dst/" ;;  # without a recorded cell: an empty table
        *) cp -a "$item" "$dst/" ;;
    esac
done
if [ "$recorded" = true ]; then
    # a carried checkpoint the engine has deleted there belongs to a cell recorded since; the others stay as committed
    for cell in "$dst"/.checkpoints/*/; do
        [ -d "$cell" ] || continue
        [ -d "$src/.checkpoints/$(basename "$cell")" ] || rm -rf "$cell"
    done
else
    rm -rf "$dst/.checkpoints"
fi
if [ "$recorded" = false ] && [ -d "$src/.checkpoints" ]; then
    for cell in "$src"/.checkpoints/*/; do
        [ -f "$cell/checkpoint.pt" ] || continue
        name=$(basename "$cell")
        mkdir -p "$dst/.checkpoints/$name"
        cp -a "$cell/checkpoint.pt" "$dst/.checkpoints/$name/"
        [ -f "$cell/history.csv" ] && cp -a "$cell/history.csv" "$dst/.checkpoints/$name/"
    done
fi

if [ -d "$src/.models" ]; then
    for model in "$src"/.models/*.pt; do
        [ -f "$model" ] || continue
        mkdir -p "$dst/.models"
        cp -a "$model" "$dst/.models/"
    done
fi

git add -A "$dst"                                  # the record, and the removal of checkpoints no longer there
if [ -d "$dst/.checkpoints" ]; then
    find "$dst/.checkpoints" -type f \( -name checkpoint.pt -o -name history.csv \) -print0 | xargs -0 -r git add -f
fi
if [ -d "$dst/.models" ]; then
    find "$dst/.models" -type f -name '*.pt' -print0 | xargs -0 -r git add -f
fi
git status --short -- "$dst"
if [ "$recorded" = true ]; then
    echo "staged the recorded cells; commit it (the running cells' checkpoints are carried at the sitting's end: make carry RUN=$run)"
else
    echo "staged; commit it (at a sitting's end: amend this sitting's earlier carry rather than adding another copy)"
fi
