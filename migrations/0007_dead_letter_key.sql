-- A redelivered junk message is dead-lettered once.
ALTER TABLE projection_dead_letters
    ADD CONSTRAINT projection_dead_letters_message UNIQUE (projection, topic, partition, "offset");
