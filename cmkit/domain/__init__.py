"""The customer rules: plain Python that knows no SQL."""
