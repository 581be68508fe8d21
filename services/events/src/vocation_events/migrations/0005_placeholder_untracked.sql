-- placeholder for another helper's 0005 (not committed)
SELECT 1;
