#!/usr/bin/env bash
# Distributed training on one or more nodes with torchrun.
#   bash tools/dist_train.sh CONFIG NUM_PROCS [train.py options]
# NNODES, NODE_RANK, MASTER_ADDR and PORT configure multi-node runs.
# Two launches at once on one machine need different PORTs (default 29500).
set -euo pipefail
CONFIG=$1
NPROC=$2
torchrun --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
  --nproc_per_node="$NPROC" "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
