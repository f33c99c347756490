"""The runtime side of panda-compile: talking to iDDS/PanDA about a compiled OUTDIR.

`compiler.runtime.idds` reaches iDDS (directly or through the PanDA relay) with bounded
retries, builds the iDDS workflow from OUTDIR and stages files; `compiler.runtime.errors`
holds the errors.  Nothing here is imported by `import compiler`, and idds/panda-client
are imported only when a runtime function is called.
"""
