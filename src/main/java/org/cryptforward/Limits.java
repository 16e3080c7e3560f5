package org.cryptforward;

/**
 * Every bound on what a message, a key or a record may make this program read or hold, named
 * once (like mime4j's {@code MimeConfig}). Input beyond a bound is never an error by itself: the
 * part beyond it is not looked at, and what depends on it takes the safe side (encrypts rather
 * than passes through, keeps rather than drops). {@link #DEFAULT} is the only instance the
 * program uses; tests may make others.
 *
 * @param fieldBytes the most of one header field that is read for its value (Message-ID, From, Subject…)
 * @param routedValueBytes the most of one header field a rule's header pattern is matched against
 * @param envelopeValueBytes the most of one envelope header (Delivered-To, Return-Path…) read for an address
 * @param loopValueBytes the most of one loop-marker field read
 * @param headerFieldsPerName how many fields of one name are looked at
 * @param headerNameBytes the longest field name (RFC 5322 line limit less the colon)
 * @param envelopeLineBytes the longest envelope {@code From } line
 * @param outerFieldBytes the longest header field copied onto the outer header of a forward
 * @param outputLineBytes the longest line written in a header (RFC 5322)
 * @param encryptedSampleBytes how much of a body is looked at to tell whether it is already encrypted
 * @param encryptedMixedBytes the largest multipart message whose parts are examined for ciphertext
 * @param mimeLineBytes the longest line the MIME outline reads
 * @param mimeFields the most header fields the MIME outline reads, over all parts
 * @param mimeDepth how deep into a multipart/mixed message its parts are examined for ciphertext
 * @param spoolMemoryBytes how much of a message is held in memory before it is spooled (encrypted) to disk
 * @param ioBufferBytes the buffer size of every copy of a message
 * @param keyInputBytes the largest key file {@code key import} reads
 * @param journalEntryBytes the largest journal entry (no entry of ours grows this large)
 * @param logLineChars the longest line sent to syslog
 * @param configFileBytes the largest configuration file read
 * @param routedAddressBytes the most address text of one message's header a rule is matched against
 * @param keyPacketBytes the largest key packet of an encrypted message looked at for pass-through
 * @param addressChars the longest e-mail address (RFC 5321's path limit, less the brackets)
 * @param localPartChars the longest local part of an address (RFC 5321)
 */
public record Limits(
        int fieldBytes,
        int routedValueBytes,
        int envelopeValueBytes,
        int loopValueBytes,
        int headerFieldsPerName,
        int headerNameBytes,
        int envelopeLineBytes,
        int outerFieldBytes,
        int outputLineBytes,
        int encryptedSampleBytes,
        long encryptedMixedBytes,
        int mimeLineBytes,
        int mimeFields,
        int mimeDepth,
        long spoolMemoryBytes,
        int ioBufferBytes,
        int keyInputBytes,
        long journalEntryBytes,
        int logLineChars,
        long configFileBytes,
        long routedAddressBytes,
        int keyPacketBytes,
        int addressChars,
        int localPartChars) {

    /** The bounds the program runs with. */
    public static final Limits DEFAULT = new Limits(
            64 * 1024, // fieldBytes
            256 * 1024, // routedValueBytes
            64 * 1024, // envelopeValueBytes
            4 * 1024, // loopValueBytes
            1000, // headerFieldsPerName
            997, // headerNameBytes
            2048, // envelopeLineBytes
            16 * 1024, // outerFieldBytes
            998, // outputLineBytes
            256 * 1024, // encryptedSampleBytes
            32L << 20, // encryptedMixedBytes
            1 << 20, // mimeLineBytes
            10_000, // mimeFields
            3, // mimeDepth
            1 << 20, // spoolMemoryBytes
            64 * 1024, // ioBufferBytes
            64 << 20, // keyInputBytes
            1 << 20, // journalEntryBytes
            2000, // logLineChars
            1L << 20, // configFileBytes
            1L << 20, // routedAddressBytes
            64 * 1024, // keyPacketBytes
            254, // addressChars
            64); // localPartChars
}
