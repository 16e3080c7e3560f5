package org.cryptforward.pipeline;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.cryptforward.config.Rule;
import org.cryptforward.keys.KeyIds;
import org.cryptforward.keys.KeyStatus;
import org.cryptforward.keys.KeyUsability;
import org.cryptforward.keys.Keyring;
import org.cryptforward.keys.KeyringException;
import org.cryptforward.keys.KeyringModes;

/**
 * The keys a rule's forwards are encrypted to: each named key looked up and judged. A forward
 * needs every one of them; if any cannot be used, {@link #problem()} says which and why, and no
 * key is handed out (so nothing is encrypted to a subset by accident).
 *
 * <p>A key that is missing, ambiguous, expired, revoked, has no encryption subkey, or was read
 * from a keyring others may write ({@link KeyringModes}) is a
 * {@link #problem()} that needs the administrator: the delivery sends a notice without content
 * (or defers when it keeps no local copy). A keyring that cannot be read at all is
 * {@link #temporary()}: the delivery defers (75) and the MTA retries, because the next attempt
 * may well find the key.
 *
 * @param statuses per key ID: the fingerprint found and the verdict, in rule order
 * @param temporary whether the problem is that the keyring could not be read
 */
public record RuleKeys(
        List<PGPPublicKey> encryptionKeys,
        List<String> fingerprints,
        Map<String, String> statuses,
        Optional<String> problem,
        boolean temporary,
        List<Verdict> verdicts) {

    /**
     * The judgement of one key ID of the rule, for {@code check} to report in its own words.
     *
     * @param fingerprint the key found, if one was
     * @param status its usability, if it was judged
     * @param problem why it cannot be used, if it cannot
     */
    public record Verdict(
            String id, Optional<String> fingerprint, Optional<KeyStatus> status, Optional<String> problem) {}

    public static RuleKeys resolve(Path keyringDir, Rule rule, Date now) {
        Keyring keyring = new Keyring(keyringDir);
        List<PGPPublicKey> all = new ArrayList<>();
        List<String> fprs = new ArrayList<>();
        Map<String, String> statuses = new LinkedHashMap<>();
        List<String> problems = new ArrayList<>();
        List<Verdict> verdicts = new ArrayList<>();
        boolean temporary = false;
        for (String id : rule.keys()) {
            try {
                Keyring.Entry e = keyring.find(id, now);
                String fpr = KeyIds.fingerprint(e.certificate());
                KeyStatus status = KeyUsability.evaluate(e.certificate(), now);
                fprs.add(fpr);
                // the same rule as check's: a key others may have replaced is not used
                Optional<String> loose = KeyringModes.problem(keyring.dir(), e.file());
                if (loose.isPresent()) {
                    statuses.put(id, fpr + ": NOT usable: " + loose.get());
                    problems.add("key " + fpr + " (" + id + ") cannot be used: " + loose.get());
                    verdicts.add(new Verdict(id, Optional.of(fpr), Optional.of(status), loose));
                } else if (status.usable()) {
                    verdicts.add(new Verdict(id, Optional.of(fpr), Optional.of(status), Optional.empty()));
                    all.addAll(status.encryptionKeys());
                    statuses.put(
                            id,
                            fpr + ": usable, " + status.encryptionKeys().size() + " encryption key"
                                    + (status.encryptionKeys().size() == 1 ? "" : "s"));
                } else {
                    String why = status.reason().orElse("no encryption key");
                    statuses.put(id, fpr + ": NOT usable: " + why);
                    problems.add("key " + fpr + " (" + id + ") cannot be used: " + why);
                    verdicts.add(new Verdict(id, Optional.of(fpr), Optional.of(status), Optional.of(why)));
                }
            } catch (KeyringException e) {
                statuses.put(id, "NOT usable: " + e.getMessage());
                problems.add("key " + id + ": " + e.getMessage());
                verdicts.add(new Verdict(id, Optional.empty(), Optional.empty(), Optional.of(e.getMessage())));
                temporary |= e.kind() == KeyringException.Kind.IO;
            }
        }
        Optional<String> problem = problems.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", problems));
        return new RuleKeys(
                problem.isPresent() ? List.of() : all, fprs, statuses, problem, temporary, List.copyOf(verdicts));
    }
}
