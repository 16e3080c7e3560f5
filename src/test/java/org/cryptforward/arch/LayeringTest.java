package org.cryptforward.arch;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.equivalentTo;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import org.cryptforward.Main;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The direction of the data flow, kept by the build: {@code Main} → {@code cli} →
 * ({@code service}, the resident service, which {@code cli} also wires) → {@code pipeline} → the steps ({@code queue} above {@code rules}, {@code delivery}, {@code relay} above
 * {@code message} above {@code crypto}, {@code keys}, {@code journal}, {@code log}) → the
 * vocabulary every layer shares: {@code config}'s immutable records and the {@code core} package's
 * {@code Failure}, {@code ExitCodes}, {@code Deadline}, {@code Dates}, {@code Limits}, which import
 * nothing of ours. A layer uses only layers below it; steps of one level do not use each other,
 * except that {@code keys} encrypts a trial message through {@code crypto} to test a key's material.
 */
class LayeringTest {
    static JavaClasses classes;

    @BeforeAll
    static void load() {
        classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("org.cryptforward");
    }

    @Test
    void noPackageUsesAHigherOne() {
        ArchRule rule = layeredArchitecture()
                .consideringOnlyDependenciesInLayers()
                .layer("Main")
                .definedBy(equivalentTo(Main.class))
                .layer("cli")
                .definedBy("org.cryptforward.cli..")
                .layer("service")
                .definedBy("org.cryptforward.service..")
                .layer("pipeline")
                .definedBy("org.cryptforward.pipeline..")
                .layer("queue")
                .definedBy("org.cryptforward.queue..")
                .layer("rules")
                .definedBy("org.cryptforward.rules..")
                .layer("delivery")
                .definedBy("org.cryptforward.delivery..")
                .layer("relay")
                .definedBy("org.cryptforward.relay..")
                .layer("message")
                .definedBy("org.cryptforward.message..")
                .layer("crypto")
                .definedBy("org.cryptforward.crypto..")
                .layer("keys")
                .definedBy("org.cryptforward.keys..")
                .layer("journal")
                .definedBy("org.cryptforward.journal..")
                .layer("log")
                .definedBy("org.cryptforward.log..")
                .layer("config")
                .definedBy("org.cryptforward.config..")
                .layer("base")
                .definedBy("org.cryptforward.core..")
                .whereLayer("Main")
                .mayNotBeAccessedByAnyLayer()
                .whereLayer("cli")
                .mayOnlyBeAccessedByLayers("Main")
                .whereLayer("service")
                .mayOnlyBeAccessedByLayers("cli")
                .whereLayer("pipeline")
                .mayOnlyBeAccessedByLayers("cli", "service")
                .whereLayer("queue")
                .mayOnlyBeAccessedByLayers("pipeline", "service", "cli")
                .whereLayer("rules")
                .mayOnlyBeAccessedByLayers("pipeline", "cli")
                .whereLayer("delivery")
                .mayOnlyBeAccessedByLayers("queue", "pipeline", "cli")
                .whereLayer("relay")
                .mayOnlyBeAccessedByLayers("queue", "pipeline", "cli")
                .whereLayer("message")
                .mayOnlyBeAccessedByLayers("queue", "rules", "relay", "pipeline", "cli")
                .whereLayer("crypto")
                .mayOnlyBeAccessedByLayers("message", "keys", "pipeline", "cli")
                .whereLayer("keys")
                .mayOnlyBeAccessedByLayers("pipeline", "cli")
                .whereLayer("journal")
                .mayOnlyBeAccessedByLayers("delivery", "pipeline", "cli")
                .whereLayer("log")
                .mayOnlyBeAccessedByLayers("queue", "pipeline", "service", "cli")
                .whereLayer("config")
                .mayOnlyBeAccessedByLayers(
                        "queue", "message", "rules", "relay", "delivery", "keys", "pipeline", "service", "cli")
                .whereLayer("base")
                .mayOnlyBeAccessedByLayers(
                        "Main",
                        "cli",
                        "service",
                        "pipeline",
                        "queue",
                        "rules",
                        "delivery",
                        "relay",
                        "message",
                        "crypto",
                        "keys",
                        "journal",
                        "log",
                        "config");
        rule.check(classes);
    }

    @Test
    void theSharedVocabularyImportsNothingOfOurs() {
        ArchRule rule = noClasses()
                .that()
                .resideInAPackage("org.cryptforward.core..")
                .should()
                .dependOnClassesThat(
                        resideInAPackage("org.cryptforward..").and(not(resideInAPackage("org.cryptforward.core.."))))
                .because(
                        "Failure, ExitCodes, Deadline, Dates, Limits and the rest of core are the vocabulary of every layer");
        rule.check(classes);
    }
}
