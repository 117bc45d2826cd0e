"""Reading traces back: OTLP JSON into spans, and the span tree."""
