"""A moto server that behaves a little more like S3 for benchmarks: every request waits a
configurable latency before moto answers it, and every request is counted by S3 operation and
bucket.

Run as a process (``python -m bench.endpoint --port P``) or use
:class:`bench.endpoint.process.BenchServer`, which starts one on a free loopback port. Besides
the AWS APIs (answered by moto, exactly as ``python -m moto.server`` builds them) the wrapper
answers five paths of its own:

- ``GET  /__bench/counts``  -> ``{"ops": {"GetObject": n, ...}, "by_bucket": {"GetObject
  bucket": n, ...}, "bytes_in": {...}, "latency_ms": 20.0, "cpu_seconds": 12.3, "replayed":
  n, "recorded": n, "sink_objects": {"bucket/key": size}, "sink_parts": n, "put_sink_objects":
  {"bucket/key": {"size": n, "lines": n, "crc32": b64}}}``
  (``cpu_seconds`` is the server process's own user+system CPU);
- ``POST /__bench/reset``   -> zero the counts;
- ``POST /__bench/latency?ms=20`` -> set the added latency (0 turns it off, e.g. for seeding);
- ``POST /__bench/replay?on=1`` -> turn GET replay on or off (see ``replay``);
- ``POST /__bench/put-sink?pattern=BUCKET/GLOB`` -> add a put-sink pattern (see ``sinks``;
  without ``pattern``: remove all patterns, keeping what was sunk).

One module per concern:

- ``process``     -- BenchServer: the endpoint as a child process, and its control client;
- ``__main__``    -- the command line of that process;
- ``server``      -- werkzeug's threaded server with a keep-alive handler, serving moto wrapped;
- ``certificate`` -- the self-signed certificate for HTTPS (and why HTTPS);
- ``middleware``  -- control paths, request counts, added latency, routing;
- ``operations``  -- which S3 operation (and bucket) a request is;
- ``sinks``       -- multipart and put sinks: bodies checked and counted, not stored;
- ``replay``      -- GETs answered again from moto's recorded answers;
- ``chunked``     -- aws-chunked bodies and CRC32;
- ``wsgi``        -- request bodies and headers, XML / JSON / S3-error answers.
"""
