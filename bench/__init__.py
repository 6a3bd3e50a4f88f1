"""`make bench`: performance scenarios, each measured against its ceiling in the same run."""
