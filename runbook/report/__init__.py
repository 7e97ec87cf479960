"""What a run leaves for people: Allure suites, steps and redacted attachments."""
