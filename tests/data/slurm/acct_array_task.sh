#!/bin/bash
# Array task for the accounting capture (capture.sh, submitted with --time=1 --mem=200M):
# 0 ok, 1 exits 3, 2 runs past its time limit, 3 grows past its memory limit,
# 4 sleeps until scancel'ed, 5 sleeps until requeued, then (restart 1) ends ok.
echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID job $SLURM_JOB_ID restart ${SLURM_RESTART_COUNT:-0}"
case "$SLURM_ARRAY_TASK_ID" in
  0) sleep 2 ;;
  1) sleep 2; exit 3 ;;
  2) sleep 600 ;;
  3) # 10 MiB every 0.2 s, so the 1 s accounting samples see it grow (MaxRSS)
     python3 -c 'import time
a = []
for i in range(60):
    a.append(bytearray(10 << 20))
    print("allocated", (i + 1) * 10, "MiB", flush=True)
    time.sleep(0.2)' ;;
  4) sleep 600 ;;
  5) if [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then sleep 600; fi
     sleep 2 ;;
esac
