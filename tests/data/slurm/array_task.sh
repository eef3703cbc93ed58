#!/bin/bash
# Array task for the capture scenario: 0 ok, 1 exits 3, 2 long (gets scancel'ed), 3 ok.
echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID on $(hostname) as $(id -un) in $PWD"
case "$SLURM_ARRAY_TASK_ID" in
  0) sleep 3 ;;
  1) sleep 1; exit 3 ;;
  2) sleep 60 ;;
  3) sleep 1 ;;
esac
