"""The suite's plugins: settings, probes and what turns pytest's reports into severities, records and alerts."""
