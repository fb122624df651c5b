import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.data.SchemaAndValue;

/**
 * Reads every record of the topics starting with a prefix through Kafka's own consumer and runs
 * keys and values through Kafka Connect's JsonConverter, as a Connect sink or consumer of
 * walcast's topics would. Usage: JsonCheck BOOTSTRAP TOPIC_PREFIX KEY_SCHEMAS VALUE_SCHEMAS.
 */
public class JsonCheck {
  public static void main(String[] a) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", a[0]);
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());
    p.put("enable.auto.commit", "false");
    JsonConverter kc = new JsonConverter(); kc.configure(Map.of("schemas.enable", a[2]), true);
    JsonConverter vc = new JsonConverter(); vc.configure(Map.of("schemas.enable", a[3]), false);
    int ok = 0, bad = 0;
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
      List<String> topics = new ArrayList<>();
      for (String t : c.listTopics().keySet()) if (t.startsWith(a[1])) topics.add(t);
      Collections.sort(topics);
      for (String t : topics) {
        TopicPartition tp = new TopicPartition(t, 0);
        c.assign(List.of(tp)); c.seek(tp, 0);
        int empty = 0;
        while (empty < 3) {
          ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(1000));
          if (rs.isEmpty()) { empty++; continue; }
          for (ConsumerRecord<byte[], byte[]> r : rs) {
            try {
              SchemaAndValue k = kc.toConnectData(t, r.key());
              SchemaAndValue v = vc.toConnectData(t, r.value());
              ok++;
              if (System.getenv("VERBOSE") != null) System.out.println(t + " " + k.value() + " -> " + v.value());
            } catch (Exception e) {
              bad++;
              System.out.println("FAIL " + t + "@" + r.offset() + ": " + e);
            }
          }
        }
      }
      System.out.println("topics " + topics.size() + ", converted " + ok + ", failed " + bad);
    }
  }
}
