"""Airflow glue kept out of the DAG files, which only wire tasks together.

`days` tells the day a run is for (its partition key); `runs` holds the DAGs' default task
arguments, the Asset names, the timetables and the setup task; `arrival` waits in
the triggerer for a feed's files of the day up to the contract's deadline; `alerts` notifies when
a day fails or is held; `task_host` starts the Airflow components that fork task processes with
the tasks' libraries already imported.
"""
