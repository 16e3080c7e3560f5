package org.cryptforward.relay;

import jakarta.mail.AuthenticationFailedException;
import jakarta.mail.MessagingException;
import jakarta.mail.Session;
import jakarta.mail.URLName;
import jakarta.mail.internet.InternetAddress;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLException;
import org.cryptforward.config.RelayConfig;
import org.cryptforward.config.RelayConfig.Security;
import org.cryptforward.core.Addresses;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.Failure;
import org.cryptforward.core.IoErrors;
import org.cryptforward.core.Text;
import org.cryptforward.message.OutboundMessage;
import org.eclipse.angus.mail.smtp.SMTPAddressFailedException;
import org.eclipse.angus.mail.smtp.SMTPMessage;
import org.eclipse.angus.mail.smtp.SMTPSSLTransport;
import org.eclipse.angus.mail.smtp.SMTPSendFailedException;
import org.eclipse.angus.mail.smtp.SMTPSenderFailedException;
import org.eclipse.angus.mail.smtp.SMTPTransport;

/**
 * Sends forwards to the configured relay with Angus Mail, and says what every outcome means.
 *
 * <p>TLS is {@code tls} (implicit, port 465), {@code starttls} (required: a relay that does not
 * offer it gets nothing, never plaintext) or {@code none}. Certificates and host names are always
 * verified. Every step has a connect, read and write timeout, cut to the run's deadline.
 *
 * <p>Classification, from Postfix's rule that what is not known to be permanent is temporary:
 * a 5xx reply to RCPT or DATA is permanent (69), except the 5xx replies that mean the relay wants
 * authentication or TLS (530, 534, 535, 538) or that the session is out of step (503), a refused
 * sender (envelope_from or policy, the same for every message) and a 552 to RCPT (RFC 5321 says
 * to take it as 452), which are not about the message; anything
 * else (no connection, a reset, a timeout, a 4xx, TLS or AUTH failure) is temporary (75).
 */
public final class SmtpRelay implements RelayClient {
    private static final Pattern ENHANCED = Pattern.compile("^\\d{3}[ -]([245]\\.\\d{1,3}\\.\\d{1,3})\\b");
    /** 5xx replies that are about the session, not the message: authentication, TLS, command order. */
    private static final Set<Integer> CONFIGURATION_REPLIES = Set.of(503, 530, 534, 535, 538);

    private final RelayConfig config;
    private final String heloName;
    private final Deadline deadline;

    public SmtpRelay(RelayConfig config, String heloName, Deadline deadline) {
        this.config = config;
        this.heloName = heloName;
        this.deadline = deadline;
    }

    @Override
    public String address() {
        return config.address();
    }

    /** Connects, says EHLO, does STARTTLS or TLS, and authenticates, for mail from the null sender. */
    public Connection connect() throws Failure {
        return connect("");
    }

    /**
     * Connects for mail from {@code envelopeFrom}: a sender that is not ASCII needs SMTPUTF8
     * (RFC 6531), which is asked for only then — flagging every message would have a relay bounce
     * what it cannot pass on to a next hop without SMTPUTF8.
     */
    @Override
    public Connection connect(String envelopeFrom) throws Failure {
        Properties props = properties();
        boolean utf8 = !Addresses.isAscii(envelopeFrom);
        props.put("mail.mime.allowutf8", String.valueOf(utf8));
        Session session = Session.getInstance(props);
        boolean implicitTls = config.security() == Security.TLS;
        String protocol = implicitTls ? "smtps" : "smtp";
        URLName url = new URLName(protocol, config.host(), config.port(), null, null, null);
        SMTPTransport transport = implicitTls ? new SMTPSSLTransport(session, url) : new SMTPTransport(session, url);
        String user = config.username().orElse(null);
        String password = user == null ? null : readPassword();
        try {
            transport.connect(config.host(), config.port(), user, password);
            if (user != null && !transport.supportsExtension("AUTH")) {
                // Angus would go on without AUTH: a configured login is never skipped silently
                transport.close();
                throw Failure.temporary(
                        "4.7.0", "relay " + address() + " does not offer AUTH, and username is set; nothing sent");
            }
        } catch (MessagingException e) {
            throw classifyConnect(e, user);
        } catch (RuntimeException e) {
            throw Failure.temporary("4.4.0", "cannot talk to relay " + address() + ": " + describe(e), e);
        }
        return new Connection(transport, session, utf8 && transport.supportsExtension("SMTPUTF8"));
    }

    /** One open SMTP session. */
    public final class Connection implements RelayClient.Connection {
        private final SMTPTransport transport;
        private final Session session;
        private final boolean smtpUtf8;
        private String senderNote;

        Connection(SMTPTransport transport, Session session, boolean smtpUtf8) {
            this.transport = transport;
            this.session = session;
            this.smtpUtf8 = smtpUtf8;
        }

        @Override
        public String senderNote() {
            return senderNote;
        }

        /**
         * The MAIL FROM address to send: the sender checked once more by the one address rule;
         * a non-ASCII one only with SMTPUTF8, else the null sender (noted).
         */
        String mailFrom(String envelopeFrom) {
            if (envelopeFrom.isEmpty()) {
                return "";
            }
            if (Addresses.mailbox(envelopeFrom, true)
                    .filter(envelopeFrom::equals)
                    .isEmpty()) {
                senderNote = "sender is not a valid address: sent from <>";
                return "";
            }
            if (Addresses.isAscii(envelopeFrom)) {
                return envelopeFrom;
            }
            if (smtpUtf8) {
                senderNote = "non-ASCII sender sent with SMTPUTF8";
                return envelopeFrom;
            }
            senderNote = "non-ASCII sender needs SMTPUTF8, which relay " + address() + " does not offer: sent from <>";
            return "";
        }

        /**
         * Sends {@code message} to {@code recipient}; returns only once the relay answered 250
         * to the end of DATA.
         *
         * @param envelopeFrom the MAIL FROM address; {@code ""} for the null sender
         */
        @Override
        public void send(OutboundMessage message, String envelopeFrom, String recipient) throws Failure {
            StreamingMessage m = new StreamingMessage(session, message);
            String from = mailFrom(envelopeFrom);
            m.setEnvelopeFrom(from.isEmpty() ? "<>" : from);
            try {
                InternetAddress to = new InternetAddress(recipient, true);
                transport.sendMessage(m, new InternetAddress[] {to});
            } catch (jakarta.mail.internet.AddressException e) {
                // the configuration is at fault, not the message: keep it queued until fixed
                throw Failure.temporary("4.3.5", "forward address " + recipient + " is not valid; fix forward_to");
            } catch (MessagingException e) {
                throw classifySend(e, recipient);
            } catch (RuntimeException e) {
                throw Failure.temporary("4.4.0", "sending to relay " + address() + " failed: " + describe(e), e);
            }
        }

        @Override
        public void close() {
            try {
                transport.close();
            } catch (MessagingException | RuntimeException e) {
                // the messages sent are acknowledged already; QUIT is a courtesy
            }
        }
    }

    private Properties properties() throws Failure {
        Properties p = new Properties();
        String proto = config.security() == Security.TLS ? "smtps" : "smtp";
        String pre = "mail." + proto + ".";
        long timeout = deadline.cap(config.timeout()).toMillis();
        p.put(pre + "host", config.host());
        p.put(pre + "port", String.valueOf(config.port()));
        p.put(pre + "connectiontimeout", String.valueOf(timeout));
        p.put(pre + "timeout", String.valueOf(timeout));
        p.put(pre + "writetimeout", String.valueOf(timeout));
        p.put(pre + "localhost", heloName);
        p.put(pre + "quitwait", "true");
        if (config.security() != Security.NONE) {
            try {
                p.put(pre + "ssl.socketFactory", TrustAnchors.socketFactory(config.caFile()));
            } catch (GeneralSecurityException | IOException e) {
                throw Failure.temporary(
                        "4.3.5",
                        "cannot use ca_file "
                                + config.caFile().map(Path::toString).orElse("") + ": " + describe(e),
                        e);
            }
            p.put(pre + "ssl.checkserveridentity", "true");
            p.put(pre + "ssl.protocols", "TLSv1.3 TLSv1.2");
        }
        if (config.security() == Security.TLS) {
            p.put(pre + "ssl.enable", "true");
        }
        if (config.security() == Security.STARTTLS) {
            p.put(pre + "starttls.enable", "true");
            p.put(pre + "starttls.required", "true");
        }
        if (config.username().isPresent()) {
            p.put(pre + "auth", "true");
        }
        return p;
    }

    private String readPassword() throws Failure {
        return PasswordFile.read(config.passwordFile().orElseThrow());
    }

    private Failure classifyConnect(MessagingException e, String user) {
        Throwable root = rootCause(e);
        if (e instanceof AuthenticationFailedException) {
            return Failure.temporary(
                    "4.7.0", "relay " + address() + " rejected authentication as " + user + reply(e.getMessage()));
        }
        if (root instanceof ConnectException) {
            return Failure.temporary("4.4.1", "relay " + address() + " refused connection");
        }
        if (root instanceof SocketTimeoutException) {
            return Failure.temporary("4.4.2", "relay " + address() + " timed out");
        }
        if (root instanceof UnknownHostException) {
            return Failure.temporary("4.4.3", "relay host " + config.host() + " not found");
        }
        if (root instanceof NoRouteToHostException) {
            return Failure.temporary("4.4.1", "no route to relay " + address());
        }
        if (root instanceof SSLException
                || root instanceof java.security.cert.CertificateException
                || root instanceof GeneralSecurityException
                || mentionsIdentity(e)) {
            return Failure.temporary("4.7.0", "TLS with relay " + address() + " failed: " + describe(root));
        }
        String m = String.valueOf(e.getMessage());
        if (m.contains("STARTTLS")) {
            return Failure.temporary(
                    "4.7.0", "relay " + address() + " does not offer STARTTLS; nothing sent in the clear");
        }
        if (closedByRelay(e)) {
            return Failure.temporary("4.4.2", "relay " + address() + " closed the connection");
        }
        if (m.contains("greeting")) {
            return Failure.temporary("4.4.2", "relay " + address() + " refused the session" + reply(lastReply(m)));
        }
        return Failure.temporary("4.4.0", "cannot connect to relay " + address() + ": " + describe(e), e);
    }

    private Failure classifySend(MessagingException e, String recipient) {
        // the most specific reply first: Angus wraps a refused sender or recipient (the reply to
        // MAIL or RCPT) in an SMTPSendFailedException that carries the same code
        Throwable specific = null;
        for (Throwable t = e; t != null && specific == null; t = next(t)) {
            if (t instanceof SMTPAddressFailedException || t instanceof SMTPSenderFailedException) {
                specific = t;
            }
        }
        for (Throwable t = specific != null ? specific : e; t != null; t = next(t)) {
            int code = -1;
            String text = null;
            String what = "";
            if (t instanceof SMTPAddressFailedException a) {
                code = a.getReturnCode();
                text = a.getMessage();
                what = "rejected recipient <" + recipient + ">";
            } else if (t instanceof SMTPSenderFailedException s) {
                code = s.getReturnCode();
                text = s.getMessage();
                what = "rejected the sender";
            } else if (t instanceof SMTPSendFailedException s) {
                code = s.getReturnCode();
                text = s.getMessage();
                what = "rejected the message to <" + recipient + ">";
            }
            boolean aboutSession = CONFIGURATION_REPLIES.contains(code)
                    // a refused sender is envelope_from or the relay's policy, the same for every message
                    || t instanceof SMTPSenderFailedException
                    // RFC 5321 4.5.3.1.10: 552 to RCPT ("too many recipients") is to be taken as 452
                    || (code == 552 && t instanceof SMTPAddressFailedException);
            if (code >= 500 && code < 600 && !aboutSession) {
                return Failure.permanent(enhanced(text, '5'), "relay " + address() + " " + what + reply(text));
            }
            if (code >= 400) {
                String status = code < 500
                        ? enhanced(text, '4')
                        : "4" + enhanced(text, '5').substring(1);
                String verb = code < 500 ? "deferred" : "refused";
                return Failure.temporary(
                        status,
                        "relay " + address() + " " + verb + " the message to <" + recipient + ">" + reply(text));
            }
        }
        Throwable root = rootCause(e);
        if (root instanceof SocketTimeoutException) {
            return Failure.temporary("4.4.2", "relay " + address() + " timed out while sending");
        }
        if (closedByRelay(e)) {
            return Failure.temporary("4.4.2", "relay " + address() + " closed the connection while sending");
        }
        if (root instanceof IOException) {
            return Failure.temporary(
                    "4.4.2", "connection to relay " + address() + " lost while sending: " + describe(root));
        }
        return Failure.temporary("4.4.0", "sending to relay " + address() + " failed: " + describe(e), e);
    }

    private static Throwable next(Throwable t) {
        if (t instanceof MessagingException m && m.getNextException() != null && m.getNextException() != t) {
            return m.getNextException();
        }
        return t.getCause() != t ? t.getCause() : null;
    }

    private static Throwable rootCause(Throwable t) {
        Throwable r = t;
        int guard = 0;
        while (next(r) != null && guard++ < 20) {
            r = next(r);
        }
        return r;
    }

    /** Angus reports a connection the server closed as "[EOF]". */
    private static boolean closedByRelay(Throwable e) {
        for (Throwable t = e; t != null; t = next(t)) {
            if (t.getMessage() != null && t.getMessage().contains("[EOF]")) {
                return true;
            }
        }
        return false;
    }

    private static boolean mentionsIdentity(Throwable e) {
        for (Throwable t = e; t != null; t = next(t)) {
            String m = t.getMessage();
            if (m != null
                    && (m.contains("server identity")
                            || m.contains("No subject alternative")
                            || m.contains("No name matching"))) {
                return true;
            }
        }
        return false;
    }

    /** The enhanced status code in a reply if it is of the right class, else {@code c.0.0}. */
    static String enhanced(String reply, char cls) {
        if (reply != null) {
            Matcher m = ENHANCED.matcher(reply.strip());
            if (m.find() && m.group(1).charAt(0) == cls) {
                return m.group(1);
            }
        }
        return cls + ".0.0";
    }

    private static String lastReply(String m) {
        int i = m.indexOf("response:");
        return i < 0 ? null : m.substring(i + 9).strip();
    }

    /** ": <the relay's reply>", made safe for one line of log. */
    private static String reply(String text) {
        if (text == null || text.isBlank()) {
            return "";
        }
        return ": " + Text.oneLine(text, 200);
    }

    static String describe(Throwable t) {
        return Text.oneLine(IoErrors.describe(t), 200);
    }

    /** A MIME message that writes the bytes of an {@link OutboundMessage}, untouched. */
    private static final class StreamingMessage extends SMTPMessage {
        private final OutboundMessage message;

        StreamingMessage(Session session, OutboundMessage message) {
            super(session);
            this.message = message;
        }

        @Override
        public void writeTo(OutputStream os) throws IOException {
            message.writeTo(os);
        }

        @Override
        public void writeTo(OutputStream os, String[] ignoreList) throws IOException {
            message.writeTo(os);
        }
    }
}
