"""The runtime side of panda-compile: talking to iDDS/PanDA about a compiled OUTDIR.

`idds` reaches iDDS (directly or through the PanDA relay) on the route `routes` picks,
with the one bounded retry policy of `retry`; `logs` keeps client logging off stdout;
`submission_key` names each request after its OUTDIR (idempotent submit),
`submission_record` keeps OUTDIR's one request (lock, record, interrupted submits), `listing`
shows requests with that key;
`workflow` builds the iDDS workflow from OUTDIR; `staging` copies the files to pre-stage;
`operations` does submit/report/cancel/restart/ping/list on top of them, `report` turns
iDDS replies into per-label job states; `errors` holds the errors. Nothing here is
imported by `import compiler`, and idds/panda-client are imported only when a runtime
function is called.
"""
