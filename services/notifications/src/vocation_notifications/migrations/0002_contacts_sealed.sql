-- Contacts may be sealed at rest (AES-256-GCM, see adapters/contact_cipher.py): a phone is then
-- looked up (STOP replies) by its keyed index, not by the stored value.
ALTER TABLE contacts ADD COLUMN phone_index text;
UPDATE contacts SET phone_index = phone WHERE phone IS NOT NULL;
CREATE INDEX contacts_phone_index ON contacts (phone_index) WHERE phone_index IS NOT NULL;
DROP INDEX contacts_phone;
