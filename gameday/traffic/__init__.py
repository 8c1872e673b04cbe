"""gameday.traffic"""
