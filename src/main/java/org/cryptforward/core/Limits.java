package org.cryptforward.core;

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
 * @param encryptedSampleBytes how much of each MIME part is kept to tell whether it is already encrypted
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
 * @param keyFileBytes the largest keyring file read (a key within the other key bounds is far smaller)
 * @param keyIndexBytes the largest keyring index read
 * @param keyRecordBytes the largest packet, and the longest armor line, of a key that is read
 * @param keyUserIds the most user IDs of one key
 * @param keySubkeys the most subkeys of one key
 * @param keySignaturesPerComponent the most self-signatures kept per user ID or subkey
 * @param keyDirectSignatures the most direct-key signatures kept
 * @param keySignatures the most verified self-signatures kept in all (each costs a verification whenever the key is read)
 * @param keyClaimedSelfSignatures the most signatures that claim to be the owner's, verified or not
 * @param mimeParts the most MIME entities outlined (more: the structure is treated as opaque)
 * @param routedAddresses the most To/Cc addresses of one message matched against the rules
 * @param armorLineBytes the longest armor line of an encrypted message accepted for pass-through
 * @param serviceHelloBytes the largest request header (options and environment) a deliver client may send the service
 * @param serviceFrameBytes the largest frame of the service protocol
 * @param serviceReplyBufferBytes the buffer of the service protocol's replies (status line, output)
 * @param keyBareSignatures the most signatures outside any key (a revocation certificate) read
 * @param verdictCacheEntries how many verdicts on key signatures and key material one process remembers
 * @param verdictDataBytes the most signed data of one key signature held to look its verdict up
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
        int localPartChars,
        int keyFileBytes,
        int keyIndexBytes,
        int keyRecordBytes,
        int keyUserIds,
        int keySubkeys,
        int keySignaturesPerComponent,
        int keyDirectSignatures,
        int keySignatures,
        int keyClaimedSelfSignatures,
        int mimeParts,
        int routedAddresses,
        int armorLineBytes,
        int serviceHelloBytes,
        int serviceFrameBytes,
        int serviceReplyBufferBytes,
        int keyBareSignatures,
        int verdictCacheEntries,
        int verdictDataBytes) {

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
            4096, // encryptedSampleBytes
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
            64, // localPartChars
            8 << 20, // keyFileBytes
            4 << 20, // keyIndexBytes
            64 * 1024, // keyRecordBytes
            64, // keyUserIds
            64, // keySubkeys
            64, // keySignaturesPerComponent
            16, // keyDirectSignatures
            400, // keySignatures
            2000, // keyClaimedSelfSignatures
            1000, // mimeParts
            10_000, // routedAddresses
            4096, // armorLineBytes
            64 * 1024, // serviceHelloBytes
            256 * 1024, // serviceFrameBytes
            16 * 1024, // serviceReplyBufferBytes
            100, // keyBareSignatures
            4096, // verdictCacheEntries
            256 * 1024); // verdictDataBytes
}
