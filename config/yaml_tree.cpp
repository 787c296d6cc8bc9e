#include "config/yaml_tree.hpp"

#include <yaml.h>

#include <map>

namespace triggerd::config::yaml {
namespace {

const std::string kEmpty;

// YAML 1.2 core schema: these plain scalars are null.
bool is_null_spelling(std::string_view text) {
  return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

Mark mark_of(const yaml_mark_t& mark) {
  return Mark{static_cast<int>(mark.line), static_cast<int>(mark.column)};
}

std::string text_of(const yaml_char_t* text) {
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text));
}

// Owns the libyaml parser and the current event, so that every exit frees them.
struct Parser {
  Parser() { ready = yaml_parser_initialize(&parser) != 0; }
  ~Parser() {
    if (has_event) yaml_event_delete(&event);
    if (ready) yaml_parser_delete(&parser);
  }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  bool next() {
    if (has_event) yaml_event_delete(&event);
    has_event = yaml_parser_parse(&parser, &event) != 0;
    return has_event;
  }

  ParseError error() const {
    std::string message = parser.problem != nullptr ? parser.problem : "cannot parse";
    Mark at = mark_of(parser.problem_mark);
    if (parser.error == YAML_READER_ERROR) {
      message += " at byte " + std::to_string(parser.problem_offset);
      at = Mark{};
    } else if (parser.context != nullptr) {
      const Mark context_at = mark_of(parser.context_mark);
      message += std::string(" (") + parser.context + " that starts at line " +
                 std::to_string(context_at.line + 1) + ", column " +
                 std::to_string(context_at.column + 1) + ")";
    }
    return ParseError{std::move(message), at};
  }

  yaml_parser_t parser{};
  yaml_event_t event{};
  bool ready = false;
  bool has_event = false;
};

}  // namespace

class Builder {
 public:
  explicit Builder(Document& document) : document_(document) {}

  // Consumes the first document's events; false with `error` set on a mistake.
  bool build(Parser& p, ParseError* error) {
    while (true) {
      if (!p.next()) {
        *error = p.error();
        return false;
      }
      const yaml_event_t& event = p.event;
      switch (event.type) {
        case YAML_SCALAR_EVENT: {
          NodeData& node = make(event.start_mark, event.data.scalar.anchor);
          node.scalar.assign(reinterpret_cast<const char*>(event.data.scalar.value),
                             event.data.scalar.length);
          node.plain = event.data.scalar.plain_implicit != 0;
          node.type =
              node.plain && is_null_spelling(node.scalar) ? NodeType::kNull : NodeType::kScalar;
          if (!attach(node, event.start_mark, error)) return false;
          break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
          const bool map = event.type == YAML_MAPPING_START_EVENT;
          NodeData& node = make(event.start_mark, map ? event.data.mapping_start.anchor
                                                      : event.data.sequence_start.anchor);
          node.type = map ? NodeType::kMap : NodeType::kSequence;
          if (!attach(node, event.start_mark, error)) return false;
          open_.push_back({&node, nullptr});
          break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          open_.pop_back();
          break;
        case YAML_ALIAS_EVENT: {
          const std::string anchor = text_of(event.data.alias.anchor);
          auto found = anchors_.find(anchor);
          if (found == anchors_.end()) {
            *error = {"unknown anchor *" + anchor, mark_of(event.start_mark)};
            return false;
          }
          for (const Open& open : open_) {
            // The reader walks the tree recursively; a node inside itself never ends.
            if (open.node == found->second) {
              *error = {"alias *" + anchor + " refers to a node that contains it",
                        mark_of(event.start_mark)};
              return false;
            }
          }
          if (!attach(*found->second, event.start_mark, error)) return false;
          break;
        }
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT:
          return true;  // the first document only, as yaml-cpp's Load did
        default:
          break;  // stream and document start, no-ops
      }
    }
  }

 private:
  struct Open {
    NodeData* node;
    const NodeData* key;  // a mapping's key that waits for its value
  };

  NodeData& make(const yaml_mark_t& start, const yaml_char_t* anchor) {
    NodeData& node = document_.nodes_.emplace_back();
    node.mark = mark_of(start);
    if (anchor != nullptr) anchors_[text_of(anchor)] = &node;
    return node;
  }

  bool attach(const NodeData& node, const yaml_mark_t& at, ParseError* error) {
    if (open_.empty()) {
      if (document_.root_ != nullptr) {
        *error = {"more than one root node", mark_of(at)};
        return false;
      }
      document_.root_ = &node;
      return true;
    }
    Open& parent = open_.back();
    if (parent.node->type == NodeType::kSequence) {
      parent.node->items.push_back(&node);
    } else if (parent.key == nullptr) {
      parent.key = &node;
    } else {
      parent.node->entries.emplace_back(parent.key, &node);
      parent.key = nullptr;
    }
    return true;
  }

  Document& document_;
  std::vector<Open> open_;
  std::map<std::string, const NodeData*> anchors_;
};

std::unique_ptr<Document> Document::parse(std::string_view text, ParseError* error) {
  Parser p;
  if (!p.ready) {
    *error = {"cannot initialise the YAML parser (out of memory)", {}};
    return nullptr;
  }
  yaml_parser_set_input_string(&p.parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  std::unique_ptr<Document> document(new Document());
  Builder builder(*document);
  if (!builder.build(p, error)) return nullptr;
  if (document->root_ == nullptr) {
    document->root_ = &document->nodes_.emplace_back();  // an empty stream: null
  }
  return document;
}

Node Node::scalar(std::string text) {
  auto data = std::make_shared<NodeData>();
  data->type = NodeType::kScalar;
  data->scalar = std::move(text);
  Node node(data.get());
  node.owned_ = std::move(data);
  return node;
}

NodeType Node::Type() const { return data_ != nullptr ? data_->type : NodeType::kNull; }

const std::string& Node::Scalar() const {
  return data_ != nullptr && data_->type == NodeType::kScalar ? data_->scalar : kEmpty;
}

bool Node::IsPlain() const { return data_ != nullptr && data_->plain; }

Mark Node::GetMark() const { return data_ != nullptr ? data_->mark : Mark{}; }

std::size_t Node::size() const {
  if (data_ == nullptr) return 0;
  return data_->type == NodeType::kMap ? data_->entries.size() : data_->items.size();
}

Node Node::operator[](std::size_t index) const {
  if (data_ == nullptr || index >= data_->items.size()) return Node();
  return Node(data_->items[index]);
}

std::pair<Node, Node> Node::entry(std::size_t index) const {
  if (data_ == nullptr || index >= data_->entries.size()) return {};
  const auto& [key, value] = data_->entries[index];
  return {Node(key), Node(value)};
}

}  // namespace triggerd::config::yaml
