"""Getting objects back from the archives and proving a job complete: find, ls, restore,
extract, verify, reconcile (``s3bundler COMMAND``). The worker (package s3bundler) writes what
these read: archives, indexes, the catalog."""
