"""The on-disk contract: where every file of a sweep lives, who writes it and how (atomic
writes, locks), the job-file protocol shared with the job runner, and the typed records
read from those files.

The lowest wing: every other wing may use it; it imports only the standard library and the
package root (`errors`, `states`). Never imports Hydra.
"""
