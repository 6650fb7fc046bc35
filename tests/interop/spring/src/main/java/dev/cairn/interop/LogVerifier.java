// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
package dev.cairn.interop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.utils.Utils;

/**
 * The Java reader of record: Apache Kafka's own consumer (kafka-clients, no Spring, no
 * librdkafka) checks what reached Kafka against a store's log, as tests/kafka_verify.py does in
 * Python, so no judgement rests on one client library.
 *
 * <pre>
 * java -cp cairn-spring-interop.jar -Dloader.main=dev.cairn.interop.LogVerifier \
 *     org.springframework.boot.loader.launch.PropertiesLauncher \
 *     BOOTSTRAP EXPECTED.jsonl MODE TOPIC [TOPIC ...]
 * </pre>
 *
 * EXPECTED.jsonl is `cairn read STORE --format jsonl`. MODE exactly-once reads read_committed
 * (Kafka's isolation is the judge) and allows no duplicate; at-least-once reads everything and
 * counts re-sent versions. Every event must be present once with its id and chain hash in the
 * cairn headers, each key's new versions in order, each record in the partition Java's default
 * partitioner gives its key, and no record may name a position the store does not hold. Prints
 * one JSON line; exit 0 when all holds, 1 otherwise.
 */
public final class LogVerifier {
  private LogVerifier() {}

  private record Expected(String id, String chainHash) {}

  private static String header(ConsumerRecord<?, ?> r, String name) {
    Header h = r.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 4) {
      System.err.println("usage: LogVerifier BOOTSTRAP EXPECTED.jsonl MODE TOPIC [TOPIC ...]");
      System.exit(2);
    }
    String bootstrap = args[0];
    boolean exactlyOnce = switch (args[2]) {
      case "exactly-once" -> true;
      case "at-least-once" -> false;
      default -> {
        System.err.println("MODE must be at-least-once or exactly-once, not " + args[2]);
        System.exit(2);
        yield false;
      }
    };
    ObjectMapper json = new ObjectMapper();
    Map<String, Map<Long, Expected>> expected = new HashMap<>();
    long expectedEvents = 0;
    try (BufferedReader in = Files.newBufferedReader(Path.of(args[1]))) {
      for (String line; (line = in.readLine()) != null; ) {
        if (line.isBlank()) continue;
        JsonNode e = json.readTree(line);
        expected.computeIfAbsent(e.get("stream").asText(), s -> new HashMap<>())
            .put(e.get("version").asLong(), new Expected(e.get("id").asText(), e.get("chain_hash").asText()));
        expectedEvents++;
      }
    }

    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, exactlyOnce ? "read_committed" : "read_uncommitted");
    props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
    Map<String, Long> lastVersion = new HashMap<>();
    Map<String, Map<Long, Integer>> seen = new HashMap<>();
    long records = 0, duplicates = 0, outOfOrder = 0, wrongPartition = 0, mismatched = 0, unknown = 0;
    List<String> firstProblems = new ArrayList<>();
    List<String> absentTopics = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> consumer =
             new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer())) {
      for (int t = 3; t < args.length; t++) {
        String topic = args[t];
        List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
        if (infos == null || infos.isEmpty()) {
          // Not a failure by itself: events routed there count as missing.
          absentTopics.add(topic);
          continue;
        }
        int partitions = infos.size();
        List<TopicPartition> tps = infos.stream().map(i -> new TopicPartition(topic, i.partition())).toList();
        consumer.assign(tps);
        consumer.seekToBeginning(tps);
        // With read_committed these are the last stable offsets: aborted or open transactions
        // end nothing that counts.
        Map<TopicPartition, Long> ends = consumer.endOffsets(tps, Duration.ofSeconds(30));
        long idleSince = System.nanoTime();
        while (tps.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))) {
          var batch = consumer.poll(Duration.ofMillis(500));
          if (batch.isEmpty()) {
            if (System.nanoTime() - idleSince > 30_000_000_000L) {
              throw new IllegalStateException(topic + ": no progress for 30 s before its end offsets");
            }
            continue;
          }
          idleSince = System.nanoTime();
          for (ConsumerRecord<String, byte[]> r : batch) {
            records++;
            String key = r.key() == null ? "" : r.key();
            String where = r.topic() + "/" + r.partition() + "@" + r.offset();
            int want = Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % partitions;
            if (r.partition() != want) {
              wrongPartition++;
              if (firstProblems.size() < 5) firstProblems.add(where + ": key " + key + " belongs in partition " + want);
            }
            String versionText = header(r, "cairn.version");
            Map<Long, Expected> stream = expected.get(key);
            Expected e = stream == null || versionText == null ? null : stream.get(Long.parseLong(versionText));
            if (e == null) {
              unknown++;
              if (firstProblems.size() < 5) firstProblems.add(where + ": " + key + " v" + versionText + " is not in the store");
              continue;
            }
            long version = Long.parseLong(versionText);
            if (!e.id().equals(header(r, "cairn.event_id")) || !e.chainHash().equals(header(r, "cairn.chain_hash"))) {
              mismatched++;
              if (firstProblems.size() < 5) firstProblems.add(where + ": " + key + " v" + version + " has another event's id or hash");
            }
            long last = lastVersion.getOrDefault(key, 0L);
            if (version <= last) {
              duplicates++;
              if (exactlyOnce && firstProblems.size() < 5) firstProblems.add(where + ": " + key + " v" + version + " again after v" + last);
            } else if (version != last + 1) {
              outOfOrder++;
              if (firstProblems.size() < 5) firstProblems.add(where + ": " + key + " v" + version + " after v" + last);
            } else {
              lastVersion.put(key, version);
            }
          }
        }
      }
    }
    long missing = 0;
    for (var s : expected.entrySet()) {
      long have = lastVersion.getOrDefault(s.getKey(), 0L);
      for (long v : s.getValue().keySet()) if (v > have) missing++;
    }
    if (missing > 0 && firstProblems.size() < 5) firstProblems.add(missing + " events never arrived");
    boolean ok = missing == 0 && outOfOrder == 0 && wrongPartition == 0 && mismatched == 0
        && unknown == 0 && (!exactlyOnce || duplicates == 0);
    Map<String, Object> summary = new java.util.LinkedHashMap<>();
    summary.put("client", "kafka-clients " + AppInfoParser.getVersion());
    summary.put("isolation", exactlyOnce ? "read_committed" : "read_uncommitted");
    summary.put("expected_events", expectedEvents);
    summary.put("records", records);
    summary.put("missing", missing);
    summary.put("duplicates", duplicates);
    summary.put("out_of_order", outOfOrder);
    summary.put("wrong_partition", wrongPartition);
    summary.put("mismatched", mismatched);
    summary.put("not_in_store", unknown);
    summary.put("absent_topics", absentTopics);
    summary.put("problems", firstProblems);
    summary.put("ok", ok);
    System.out.println(json.writeValueAsString(summary));
    System.exit(ok ? 0 : 1);
  }
}
