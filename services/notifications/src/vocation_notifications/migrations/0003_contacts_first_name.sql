-- The first name messages greet a candidate by (personal data: sealed at rest like email and phone).
ALTER TABLE contacts ADD COLUMN first_name text;
