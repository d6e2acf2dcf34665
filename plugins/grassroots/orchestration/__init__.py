"""Airflow glue kept out of the DAG files, which only wire tasks together.

`runs` holds the Asset names, the partition day of a run and the setup task; `arrival` waits in
the triggerer for a feed's files of the day up to the contract's deadline; `alerts` notifies when
a day fails or is held; `task_host` starts the Airflow components that fork task processes with
the tasks' libraries already imported.
"""
