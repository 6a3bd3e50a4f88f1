"""Runtime shared by every process: settings, logging, the stream, the embedded server and the CLI."""
