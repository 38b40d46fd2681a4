"""pydantic models of the documents ketch reads and writes."""
