"""What a run leaves for people, one module per job.

- `evidence`: Allure suites, steps and redacted attachments, used by the stage modules while they run;
- `requirements` (+ requirements.yaml): the upgrade spec's requirements and the stage tests proving each;
- `results`: each test's latest result and its evidence, from the Allure results and JUnit XML;
- `compliance` (+ templates/): the compliance report, requirement -> checks -> evidence -> verdict;
- `timeline`: the workload timeline picture from the monitor's record and the journal;
- `allure_html`: Allure's single-file HTML report, generated offline;
- `offline`: what in an HTML page would load from the network (nothing may);
- `build`: all of them from a reports folder, the journal and the monitor (`octane report`).
"""
