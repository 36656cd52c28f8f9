#!/usr/bin/env bash
# Distributed evaluation with torchrun.
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py options]
# Two launches at once on one machine need different PORTs (default 29500).
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
torchrun --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
  --nproc_per_node="$NPROC" "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" \
  --launcher pytorch "${@:4}"
