// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
package dev.cairn.interop;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.CommandLineRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.kafka.annotation.KafkaListener;

/**
 * Reads the topics cairn shipped to, as the seed's Spring Boot consumers do, and checks: every
 * value deserialized to its mapped Java record (by the __TypeId__ header), every stream's versions
 * in order, and every stream complete (the store's last versions, from --cairn.expected). Prints
 * one summary line and exits 0 when all holds, 1 otherwise. With EnvelopeDeserializer as the
 * value deserializer (cairn's envelope value format) each envelope's stream, version, position,
 * event id and chain hash must also match the record's key and cairn headers.
 */
@SpringBootApplication
public class Application {
  private final Map<String, Long> expected = new ConcurrentHashMap<>();
  private final Map<String, Long> seen = new ConcurrentHashMap<>();
  private final AtomicLong records = new AtomicLong();
  private final AtomicLong duplicates = new AtomicLong();
  private final AtomicLong problems = new AtomicLong();
  private final AtomicLong envelopes = new AtomicLong();
  private final Map<String, AtomicLong> byType = new ConcurrentHashMap<>();
  private final CountDownLatch complete = new CountDownLatch(1);
  private volatile String firstProblem = "";

  public static void main(String[] args) {
    System.exit(SpringApplication.exit(SpringApplication.run(Application.class, args)));
  }

  @Value("${cairn.expected}")
  private String expectedFile;

  @Value("${cairn.timeout-seconds:120}")
  private long timeoutSeconds;

  @Value("${cairn.allow-duplicates:false}")
  private boolean allowDuplicates;

  private int exitCode = 1;

  private static String header(ConsumerRecord<?, ?> r, String name) {
    Header h = r.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  private void problem(String what) {
    if (problems.getAndIncrement() == 0) firstProblem = what;
    complete.countDown();  // the verdict is known: fail now rather than at the timeout
  }

  /**
   * A record whose value does not deserialize never reaches the listener: Spring's error
   * handler gets it. Count it as a problem (the default would log it and move on).
   */
  @Bean
  org.springframework.kafka.listener.CommonErrorHandler errorHandler() {
    return new org.springframework.kafka.listener.DefaultErrorHandler(
        (record, error) -> {
          records.incrementAndGet();
          Throwable root = error;
          while (root.getCause() != null) root = root.getCause();
          problem(record.topic() + "/" + record.partition() + "@" + record.offset()
              + " did not deserialize: " + root.getMessage());
        },
        new org.springframework.util.backoff.FixedBackOff(0, 0));
  }

  @KafkaListener(topics = "#{'${cairn.topics}'.split(',')}")
  public void on(ConsumerRecord<String, Object> record) {
    records.incrementAndGet();
    Object value = record.value();
    // (JsonDeserializer removes the __TypeId__ header once it has used it to pick the class.)
    if (value == null) {
      Header error = record.headers().lastHeader("springDeserializerExceptionValue");
      problem("record at " + record.topic() + "/" + record.partition() + "@" + record.offset()
          + " did not deserialize" + (error == null ? "" : " (the deserializer failed)"));
      return;
    }
    String where = record.topic() + "/" + record.partition() + "@" + record.offset();
    if (value instanceof Envelope envelope) {
      // The envelope carries the store's coordinates itself: they must agree with the key and
      // with the headers cairn sent beside it.
      envelopes.incrementAndGet();
      if (!envelope.stream().equals(record.key())
          || !String.valueOf(envelope.version()).equals(header(record, "cairn.version"))
          || !String.valueOf(envelope.position()).equals(header(record, "cairn.position"))
          || !envelope.eventId().equals(header(record, "cairn.event_id"))
          || !envelope.chainHash().equals(header(record, "cairn.chain_hash"))) {
        problem(where + ": the envelope (" + envelope.stream() + " v" + envelope.version()
            + ") disagrees with the record's key or headers");
        return;
      }
      value = envelope.event();
    }
    if (value.getClass().getEnclosingClass() != Events.class) {
      problem(where + " became a " + value.getClass().getName() + ", not a mapped event record");
      return;
    }
    String type = value.getClass().getSimpleName();
    byType.computeIfAbsent(type, t -> new AtomicLong()).incrementAndGet();
    long version = Long.parseLong(header(record, "cairn.version"));
    String stream = record.key();
    long last = seen.getOrDefault(stream, 0L);
    if (version <= last) {
      duplicates.incrementAndGet();
      if (!allowDuplicates) problem(stream + " version " + version + " again after " + last);
    } else if (version != last + 1) {
      problem(stream + ": version " + version + " after " + last + " (gap or reorder)");
    } else {
      seen.put(stream, version);
    }
    if (seen.size() == expected.size()
        && expected.entrySet().stream().allMatch(e -> seen.getOrDefault(e.getKey(), 0L) >= e.getValue())) {
      complete.countDown();
    }
  }

  @Bean
  CommandLineRunner check() {
    return args -> {
      for (String line : Files.readAllLines(Path.of(expectedFile))) {
        String[] parts = line.trim().split(" ");
        if (parts.length == 2) expected.put(parts[0], Long.parseLong(parts[1]));
      }
      boolean done = complete.await(timeoutSeconds, TimeUnit.SECONDS);
      long missing = expected.entrySet().stream()
          .filter(e -> seen.getOrDefault(e.getKey(), 0L) < e.getValue()).count();
      System.out.printf("spring: %d records (%d envelopes), %d streams complete of %d, %d duplicates, %d problems,"
              + " types %s%s%n", records.get(), envelopes.get(), expected.size() - missing, expected.size(),
          duplicates.get(), problems.get(), byType, firstProblem.isEmpty() ? "" : ": " + firstProblem);
      exitCode = done && problems.get() == 0 ? 0 : 1;
    };
  }

  @Bean
  org.springframework.boot.ExitCodeGenerator exitCode() {
    return () -> exitCode;
  }
}
