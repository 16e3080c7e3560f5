package org.cryptforward.pipeline;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.Failure;
import org.cryptforward.delivery.LocalMailbox;
import org.cryptforward.journal.DeliveryJournal;
import org.cryptforward.journal.JournalRecord;
import org.cryptforward.log.MailLog;
import org.cryptforward.message.OutboundMessage;
import org.cryptforward.relay.RelayClient;

/**
 * The ports of a {@link Delivery} in memory, each able to fail where a test says, so unit tests
 * can drive the order of side effects without files or sockets: a journal that outlives the runs
 * of one test (as the state directory does), a mailbox, a relay with scripted replies, a log.
 */
final class MemoryPorts {
    private MemoryPorts() {}

    /** A journal kept in memory across runs; {@link #failNext} makes one record fail. */
    static final class Journal implements DeliveryJournal {
        final Map<String, List<JournalRecord>> entries = new HashMap<>();
        private Predicate<JournalRecord> failing = r -> false;
        int opened;

        /** The next record matching {@code which} fails (once), as a full disk would fail it. */
        void failNext(Predicate<JournalRecord> which) {
            failing = which;
        }

        List<JournalRecord> records(String key) {
            return entries.getOrDefault(key, List.of());
        }

        /** The one entry a test's message made. */
        List<JournalRecord> onlyEntry() {
            if (entries.size() != 1) {
                throw new AssertionError("expected one journal entry, found " + entries.keySet());
            }
            return entries.values().iterator().next();
        }

        @Override
        public Entry open(String key, Deadline deadline) {
            opened++;
            List<JournalRecord> records = entries.computeIfAbsent(key, k -> new ArrayList<>());
            return new Entry() {
                @Override
                public String key() {
                    return key;
                }

                @Override
                public boolean has(JournalRecord record) {
                    return records.contains(record);
                }

                @Override
                public <R extends JournalRecord> Optional<R> last(Class<R> kind) {
                    for (int i = records.size() - 1; i >= 0; i--) {
                        if (kind.isInstance(records.get(i))) {
                            return Optional.of(kind.cast(records.get(i)));
                        }
                    }
                    return Optional.empty();
                }

                @Override
                public void record(JournalRecord record) throws Failure {
                    if (failing.test(record)) {
                        failing = r -> false;
                        throw Failure.temporary("4.3.1", "cannot write state journal: No space left on device");
                    }
                    records.add(record);
                }

                @Override
                public void close() {}
            };
        }

        @Override
        public int prune() {
            return 0;
        }
    }

    /** A mailbox in memory that follows the port's contract: a copy recorded is not written again. */
    static final class Mailbox implements LocalMailbox {
        final List<byte[]> copies = new ArrayList<>();
        Failure failure;

        @Override
        public Path deliverOnce(MessageSource message, String envelopeSender, DeliveryJournal.Entry entry)
                throws Failure {
            Optional<JournalRecord.LocalCopy> done = entry.last(JournalRecord.LocalCopy.class);
            if (done.isPresent()) {
                return Path.of(done.get().location());
            }
            store(message, envelopeSender);
            Path p = path().resolve(String.valueOf(copies.size()));
            entry.record(new JournalRecord.LocalCopy(p.toString()));
            return p;
        }

        @Override
        public Path store(MessageSource message, String envelopeSender) throws Failure {
            if (failure != null) {
                throw failure;
            }
            try (InputStream in = message.open()) {
                copies.add(in.readAllBytes());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return path();
        }

        @Override
        public Path path() {
            return Path.of("/memory/mailbox");
        }
    }

    /** One message the relay accepted. */
    record Sent(String envelopeFrom, String to, byte[] bytes) {}

    /** A relay that accepts everything but the replies a test scripts, per recipient and in order. */
    static final class Relay implements RelayClient {
        final List<Sent> sent = new ArrayList<>();
        final Map<String, Deque<Failure>> replies = new HashMap<>();
        Failure connectFailure;
        int connects;
        int open;

        /** The next delivery attempt to {@code to} gets {@code reply} instead of a 250. */
        Relay reply(String to, Failure reply) {
            replies.computeIfAbsent(to, k -> new ArrayDeque<>()).add(reply);
            return this;
        }

        List<String> recipients() {
            return sent.stream().map(Sent::to).toList();
        }

        @Override
        public String address() {
            return "memory:25";
        }

        @Override
        public Connection connect(String envelopeFrom) throws Failure {
            connects++;
            if (connectFailure != null) {
                throw connectFailure;
            }
            open++;
            return new Connection() {
                private boolean closed;

                @Override
                public void send(OutboundMessage message, String envelopeFrom, String recipient) throws Failure {
                    if (closed) {
                        throw new IllegalStateException("send on a closed session");
                    }
                    ByteArrayOutputStream out = new ByteArrayOutputStream();
                    try {
                        message.writeTo(out); // the whole message is read, as over SMTP, before the reply
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                    Deque<Failure> scripted = replies.get(recipient);
                    if (scripted != null && !scripted.isEmpty()) {
                        throw scripted.poll();
                    }
                    sent.add(new Sent(envelopeFrom, recipient, out.toByteArray()));
                }

                @Override
                public String senderNote() {
                    return null;
                }

                @Override
                public void close() {
                    if (!closed) {
                        closed = true;
                        open--;
                    }
                }
            };
        }
    }

    /** The log lines, with their levels. */
    static final class Log implements MailLog {
        final List<String> lines = new ArrayList<>();

        @Override
        public void log(Level level, String line) {
            lines.add(level + " " + line);
        }

        String last() {
            return lines.isEmpty() ? "" : lines.get(lines.size() - 1);
        }
    }
}
