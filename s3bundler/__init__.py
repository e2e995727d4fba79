"""s3bundler: the worker that turns a sub-manifest into a tar archive, an index, server-side
copies of big objects and a DLQ index of everything it could not archive."""
