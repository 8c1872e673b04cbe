"""gameday.sandbox"""
