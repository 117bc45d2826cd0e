"""The read-model access layer: every MongoDB query the API makes lives in this package."""
