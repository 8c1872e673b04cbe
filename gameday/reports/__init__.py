"""gameday.reports"""
