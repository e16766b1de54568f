// Unit tests of Lumen's Jinja engine (engine/chat/jinja_*.h): each construct
// chat templates use, the errors Python raises, and the limits that stop a
// hostile template. The expected strings of JinjaConstructs were produced by
// Python's jinja2 3.1.6 in transformers' configuration
// (tests/data/chat_templates/render_references.py's environment) on the
// context below.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/jinja_template.h"

using lumen::JinjaOptions;
using lumen::JinjaTemplate;
using lumen::render_chat_template;
using Json = nlohmann::ordered_json;

namespace {

const Json& test_context() {
    static const Json context = Json::parse(R"~({
    "n": 7,
    "f": 2.5,
    "s": "  Hi, you  ",
    "u": "héllo ✓",
    "l": [3, 1, 2],
    "d": {"b": 2, "a": 1},
    "z": null,
    "t": true,
    "msgs": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1, "y": [1.5, null, false]}}}]}],
    "words": ["apple", "Banana", "cherry", "apple"]
})~");
    return context;
}

// strftime_now() sees 2025-07-26 14:30:05, a Saturday (as render_references.py).
JinjaOptions fixed_clock() {
    std::tm now{};
    now.tm_year = 2025 - 1900;
    now.tm_mon = 6;
    now.tm_mday = 26;
    now.tm_hour = 14;
    now.tm_min = 30;
    now.tm_sec = 5;
    now.tm_wday = 6;
    now.tm_yday = 206;
    JinjaOptions options;
    options.now = now;
    return options;
}

struct Case {
    std::string source;
    std::string expected;
};

void expect_renders(const std::vector<Case>& cases) {
    for (const Case& c : cases) {
        const auto out = render_chat_template(c.source, test_context(), fixed_clock());
        ASSERT_TRUE(out) << c.source << "\n  error: " << out.status().message();
        EXPECT_EQ(out.value(), c.expected) << c.source;
    }
}

// Renders `source` expecting an error whose message contains `fragment`; returns the message.
std::string expect_error(const std::string& source, const std::string& fragment,
                         const JinjaOptions& options = fixed_clock()) {
    const auto out = render_chat_template(source, test_context(), options);
    EXPECT_FALSE(out) << source << " rendered: " << (out ? out.value() : "");
    if (out) return "";
    EXPECT_NE(out.status().message().find(fragment), std::string::npos)
        << source << "\n  message: " << out.status().message() << "\n  expected to contain: " << fragment;
    return out.status().message();
}

}  // namespace

// ---------------------------------------------------------------------------
// Constructs, checked against Python's output

TEST(JinjaConstructs, WhitespaceControl) {
    expect_renders({
        {R"~(a
{% if true %}
b
{% endif %}
c)~",
         R"~(a
b
c)~"},
        {R"~(a  {%- if true -%}  b  {%- endif -%}  c)~", R"~(abc)~"},
        {R"~(x
    {% if true %}
    y
    {% endif %}
z)~",
         R"~(x
    y
z)~"},
        {R"~({{ 'a' }}
{{ 'b' }}
)~",
         R"~(a
b)~"},
        {R"~(line
{# comment #}
next)~",
         R"~(line
next)~"},
        {R"~(  {#- c -#}  x)~", R"~(x)~"},
        {R"~(a
  {%+ if true %}b{% endif %})~",
         R"~(a
  b)~"},
        {R"~({{- '  a  ' -}})~", R"~(  a  )~"},
        {R"~( {{- 'x' }} )~", R"~(x )~"},
        {"a\r\nb\rc\n",
         R"~(a
b
c)~"},
        {R"~(t

)~",
         R"~(t
)~"},
        {R"~({{ 1 }}  {% if true %}x{% endif %})~", R"~(1  x)~"},
        {R"~({% for i in range(3) %}
  {{ i }}
{% endfor %}
)~",
         R"~(  0
  1
  2
)~"},
        {R"~(a　{%- if true %}b{% endif %})~", R"~(ab)~"},
        {R"~({{ 'a' }}  {% if true %}
 b{% endif %})~",
         R"~(a   b)~"},
        {"a\n\t \t{% for i in l %}{{ i }}{% endfor %}",
         R"~(a
312)~"},
    });
}

TEST(JinjaConstructs, RawAndComments) {
    expect_renders({
        {R"~({% raw %}{{ not }}{% endraw %})~", R"~({{ not }})~"},
        {R"~({% raw -%}  x  {%- endraw %}|)~", R"~(x|)~"},
        {R"~({% raw %}
  {% if %}
{% endraw %}
z)~",
         R"~(
  {% if %}
z)~"},
        {R"~(a{# {{ hidden }} #}b)~", R"~(ab)~"},
        {R"~({#
multi
line
#}x)~",
         R"~(x)~"},
    });
}

TEST(JinjaConstructs, Literals) {
    expect_renders({
        {R"~({{ 1 }}|{{ -3 }}|{{ 1.0 }}|{{ 2.50 }}|{{ 1e20 }}|{{ 1e16 }}|{{ 1e15 }}|{{ 1.0e-7 }}|{{ 0.0001 }}|{{ 1_000 }}|{{ 0x1F }}|{{ 0b101 }})~",
         R"~(1|-3|1.0|2.5|1e+20|1e+16|1000000000000000.0|1e-07|0.0001|1000|31|5)~"},
        {R"~({{ 'single' }}|{{ "double" }}|{{ 'it\'s' }}|{{ 'a\tb' }}|{{ 'u\u00e9' }}|{{ 'x' 'y' }})~",
         "single|double|it's|a\tb|ué|xy"},
        {R"~({{ true }}|{{ True }}|{{ false }}|{{ none }}|{{ None }})~", R"~(True|True|False|None|None)~"},
        {R"~({{ [1, 'a', none, true, 1.5] }}|{{ (1,) }}|{{ (1, 2) }}|{{ () }}|{{ {} }}|{{ {'k': [1, (2,)]} }})~",
         R"~([1, 'a', None, True, 1.5]|(1,)|(1, 2)|()|{}|{'k': [1, (2,)]})~"},
        {R"~({{ ["it's", 'say "hi"', 'both \' "'] }})~", R"~(["it's", 'say "hi"', 'both \' "'])~"},
        {R"~({{ ['\n', '\x01', '\u00a0', '\u200b', 'é', '😀'] }})~", R"~(['\n', '\x01', '\xa0', '\u200b', 'é', '😀'])~"},
    });
}

TEST(JinjaConstructs, Arithmetic) {
    expect_renders({
        {R"~({{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 2 ** 3 ** 2 }}|{{ -2 ** 2 }})~", R"~(7|9|64|4)~"},
        {R"~({{ 7 / 2 }}|{{ 10 / 5 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7.5 // 2 }})~", R"~(3.5|2.0|3|-4|3.0)~"},
        {R"~({{ 7 % 3 }}|{{ -7 % 3 }}|{{ 7 % -3 }}|{{ 5.5 % 2 }})~", R"~(1|2|-2|1.5)~"},
        {R"~({{ 2 ** 10 }}|{{ 2 ** -1 }}|{{ 1.5 + 1 }}|{{ 0.1 + 0.2 }}|{{ 3 * 1.1 }}|{{ 1 / 3 }})~",
         R"~(1024|0.5|2.5|0.30000000000000004|3.3000000000000003|0.3333333333333333)~"},
        {R"~({{ true + 1 }}|{{ true * 3 }}|{{ -n }}|{{ +f }})~", R"~(2|3|-7|2.5)~"},
        {R"~({{ 'ab' * 3 }}|{{ 2 * 'x' }}|{{ [1] * 2 }}|{{ [1, 2] + [3] }}|{{ (1,) + (2,) }}|{{ 'a' + 'b' }})~",
         R"~(ababab|xx|[1, 1]|[1, 2, 3]|(1, 2)|ab)~"},
    });
}

TEST(JinjaConstructs, ConcatenationAndStr) {
    expect_renders({
        {R"~({{ 'a' ~ 1 ~ none ~ true ~ 1.0 ~ [1, 'b'] ~ {'k': 'v'} }})~", R"~(a1NoneTrue1.0[1, 'b']{'k': 'v'})~"},
        {R"~({{ 'a' ~ missing ~ 'b' }})~", R"~(ab)~"},
        {R"~({{ (1 + 2) ~ 3 }}|{{ 2 * 3 ~ 4 }})~", R"~(33|64)~"},
        {R"~({{ d }}|{{ msgs[2].tool_calls[0].function.arguments }}|{{ z }}|{{ t }})~",
         R"~({'b': 2, 'a': 1}|{'x': 1, 'y': [1.5, None, False]}|None|True)~"},
    });
}

TEST(JinjaConstructs, Comparisons) {
    expect_renders({
        {R"~({{ 1 < 2 < 3 }}|{{ 1 < 3 < 2 }}|{{ 'a' < 'b' }}|{{ [1, 2] < [1, 3] }}|{{ 2 >= 2.0 }})~",
         R"~(True|False|True|True|True)~"},
        {R"~({{ 1 == 1.0 }}|{{ true == 1 }}|{{ none == none }}|{{ [] == [] }}|{{ (1,) == [1] }}|{{ {'a': 1} == {'a': 1} }})~",
         R"~(True|True|True|True|False|True)~"},
        {R"~({{ 'ell' in 'hello' }}|{{ 2 in l }}|{{ 'a' in d }}|{{ 'x' not in 'abc' }}|{{ 5 not in l }}|{{ 1 in missing }})~",
         R"~(True|True|True|True|True|False)~"},
    });
}

TEST(JinjaConstructs, LogicAndConditionals) {
    expect_renders({
        {R"~({{ true and 'x' }}|{{ false or 'y' }}|{{ none or 0 }}|{{ 0 and 1 }}|{{ not [] }}|{{ not n }})~",
         R"~(x|y|0|0|True|False)~"},
        {R"~({{ 'a' if n > 3 else 'b' }}|{{ 'a' if n > 30 }}|{{ 1 if false else 2 if false else 3 }})~", R"~(a||3)~"},
        {R"~({{ not true == false }}|{{ not missing is defined }})~", R"~(True|True)~"},
        {R"~({{ 'x' if s is defined and s else 'y' }})~", R"~(x)~"},
    });
}

TEST(JinjaConstructs, Indexing) {
    expect_renders({
        {R"~({{ l[0] }}|{{ l[-1] }}|{{ l[5] }}|{{ l.0 }}|{{ u[1] }}|{{ u[-1] }})~", R"~(3|2||3|é|✓)~"},
        {R"~({{ l[1:] }}|{{ l[:-1] }}|{{ l[::-1] }}|{{ l[::2] }}|{{ l[5:1:-1] }}|{{ l[-100:] }})~",
         R"~([1, 2]|[3, 1]|[2, 1, 3]|[3, 2]|[2]|[3, 1, 2])~"},
        {R"~({{ u[:3] }}|{{ u[::-1] }}|{{ 'abc'[1:100] }})~", R"~(hél|✓ olléh|bc)~"},
        {R"~({{ d.a }}|{{ d['b'] }}|{{ d.missing }}|{{ d['missing'] is defined }}|{{ msgs[0].role }}|{{ msgs[-1]['tool_calls'][0].function.name }})~",
         R"~(1|2||False|system|f)~"},
        {R"~({{ z.anything }}|{{ z.anything is defined }})~", R"~(|False)~"},
    });
}

TEST(JinjaConstructs, Tests) {
    expect_renders({
        {R"~({{ n is number }}|{{ f is float }}|{{ n is integer }}|{{ t is integer }}|{{ t is boolean }}|{{ t is number }}|{{ s is string }})~",
         R"~(True|True|True|False|True|True|True)~"},
        {R"~({{ d is mapping }}|{{ l is mapping }}|{{ l is iterable }}|{{ n is iterable }}|{{ d is sequence }}|{{ s is sequence }}|{{ missing is iterable }})~",
         R"~(True|False|True|False|True|True|True)~"},
        {R"~({{ z is none }}|{{ missing is defined }}|{{ missing is undefined }}|{{ z is defined }}|{{ t is true }}|{{ t is false }}|{{ 1 is true }})~",
         R"~(True|False|True|True|True|False|False)~"},
        {R"~({{ n is odd }}|{{ n is even }}|{{ 9 is divisibleby 3 }}|{{ n is eq 7 }}|{{ n is ne(7) }}|{{ n is gt 3 }}|{{ n is lessthan 3 }}|{{ 2 is in l }})~",
         R"~(True|False|True|True|False|True|False|True)~"},
        {R"~({{ z is sameas none }}|{{ t is sameas true }}|{{ 'abc' is lower }}|{{ 'ABC' is upper }}|{{ 'upper' is filter }}|{{ 'nope' is test }}|{{ range is callable }})~",
         R"~(True|True|True|True|True|False|True)~"},
        {R"~({{ s is not none }}|{{ s is not string }}|{{ l|select('odd') is iterable }})~", R"~(True|False|True)~"},
    });
}

TEST(JinjaConstructs, StringMethods) {
    expect_renders({
        {R"~({{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxaxx'.strip('x') }}|{{ 'a\u00a0'.strip() }})~",
         R"~(Hi, you|Hi, you  |  Hi, you|a|a)~"},
        {R"~({{ 'a,b,,c'.split(',') }}|{{ ' a b  c '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ 'l1\nl2\r\nl3'.splitlines() }})~",
         R"~(['a', 'b', '', 'c']|['a', 'b', 'c']|['a', 'b,c']|['a,b', 'c']|['l1', 'l2', 'l3'])~"},
        {R"~({{ s.startswith('  H') }}|{{ s.endswith(('x', '  ')) }}|{{ 'abc'.replace('b', 'B') }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ 'ab'.replace('', '-') }})~",
         R"~(True|True|aBc|bba|-a-b-)~"},
        {R"~({{ 'abc'.upper() }}|{{ 'ABC'.lower() }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'straße'.upper() }})~",
         R"~(ABC|abc|Hello World|Hello|STRASSE)~"},
        {R"~({{ 'abcabc'.find('c') }}|{{ 'abcabc'.rfind('c') }}|{{ 'abcabc'.count('bc') }}|{{ u.find('l') }}|{{ 'a'.find('z') }})~",
         R"~(2|5|2|2|-1)~"},
        {R"~({{ '-'.join(['a', 'b']) }}|{{ 'ab'.isalpha() }}|{{ '12'.isdigit() }}|{{ ' '.isspace() }}|{{ 'a'.zfill(3) }}|{{ 'ab'.center(6, '*') }}|{{ 'a.b.c'.partition('.') }})~",
         R"~(a-b|True|True|True|00a|**ab**|('a', '.', 'b.c'))~"},
        {R"~({{ '{} and {}'.format(1, 'x') }}|{{ '{0}{0}{name}'.format('r', name='n') }}|{{ '{:>5}|{:<4}|{:^5}|{:05d}|{:.2f}|{!r}|{:,}'.format('a', 'b', 'c', 42, 3.14159, 'q', 1234567) }})~",
         R"~(1 and x|rrn|    a|b   |  c  |00042|3.14|'q'|1,234,567)~"},
        {R"~({{ '%s-%d' % ('a', 3) }}|{{ '%5.1f|%-3d|%x|%%' % (3.14159, 2, 255) }}|{{ '%(a)s' % {'a': 1} }}|{{ '%r' % 'x' }})~",
         R"~(a-3|  3.1|2  |ff|%|1|'x')~"},
    });
}

TEST(JinjaConstructs, ListAndDictMethods) {
    expect_renders({
        {R"~({{ d.get('a') }}|{{ d.get('zz') }}|{{ d.get('zz', 5) }}|{{ d.keys()|list }}|{{ d.values()|list }}|{{ d.items()|list }})~",
         R"~(1|None|5|['b', 'a']|[2, 1]|[('b', 2), ('a', 1)])~"},
        {R"~({{ d.items() }}|{{ d.keys() }}|{{ d.values() }})~",
         R"~(dict_items([('b', 2), ('a', 1)])|dict_keys(['b', 'a'])|dict_values([2, 1]))~"},
        {R"~({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %})~", R"~(b=2;a=1;)~"},
        {R"~({{ l.index(2) }}|{{ l.count(3) }}|{{ l.copy() }})~", R"~(2|1|[3, 1, 2])~"},
    });
}

TEST(JinjaConstructs, Filters) {
    expect_renders({
        {R"~({{ s|trim }}|{{ s|length }}|{{ u|length }}|{{ s|upper }}|{{ s|lower }}|{{ 'hello world'|title }}|{{ "they're bill's-x (ok)"|title }}|{{ 'hELLO'|capitalize }})~",
         R"~(Hi, you|11|7|  HI, YOU  |  hi, you  |Hello World|They're Bill's-X (Ok)|Hello)~"},
        {R"~({{ l|first }}|{{ l|last }}|{{ l|join(',') }}|{{ l|join }}|{{ l|sort|list }}|{{ l|sort(reverse=true)|join }}|{{ ['b', 'A', 'a']|sort|join }}|{{ ['b', 'A', 'a']|sort(case_sensitive=true)|join }})~",
         R"~(3|2|3,1,2|312|[1, 2, 3]|321|Aab|Aab)~"},
        {R"~({{ l|min }}|{{ l|max }}|{{ l|sum }}|{{ l|sum(start=10) }}|{{ msgs|map(attribute='role')|join(',') }}|{{ msgs|map(attribute='nope', default='-')|list }}|{{ l|map('string')|join('-') }})~",
         R"~(1|3|6|16|system,user,assistant|['-', '-', '-']|3-1-2)~"},
        {R"~({{ msgs|selectattr('tool_calls')|list|length }}|{{ msgs|rejectattr('role', 'equalto', 'user')|map(attribute='role')|list }}|{{ l|select('odd')|list }}|{{ l|reject('odd')|list }}|{{ l|select('>', 1)|list }})~",
         R"~(1|['system', 'assistant']|[3, 1]|[2]|[3, 2])~"},
        {R"~({{ missing|default('dflt') }}|{{ z|default('dflt') }}|{{ ''|default('dflt', true) }}|{{ missing|d('x') }})~",
         R"~(dflt|None|dflt|x)~"},
        {R"~({{ d|dictsort }}|{{ d|dictsort(reverse=true) }}|{{ {'b': 1, 'A': 2, 'a': 3}|dictsort }}|{{ d|dictsort(by='value') }}|{{ d|items|list }})~",
         R"~([('a', 1), ('b', 2)]|[('b', 2), ('a', 1)]|[('A', 2), ('a', 3), ('b', 1)]|[('a', 1), ('b', 2)]|[('b', 2), ('a', 1)])~"},
        {R"~({{ 'x\ny\n\nz'|indent }}|{{ 'x\ny'|indent(2, true) }}|{{ 'x\n\ny'|indent(width='>>', blank=true) }})~",
         R"~(x
    y

    z|  x
  y|x
>>
>>y)~"},
        {R"~({{ 42|string }}|{{ none|string }}|{{ true|string }}|{{ l|string }}|{{ 3.0|string }})~",
         R"~(42|None|True|[3, 1, 2]|3.0)~"},
        {R"~({{ '3'|int + 1 }}|{{ '3.7'|int }}|{{ 'x'|int }}|{{ 'x'|int(5) }}|{{ 3.9|int }}|{{ '2.5'|float }}|{{ 'a'|float }}|{{ 5|float }})~",
         R"~(4|3|0|5|3|2.5|0.0|5.0)~"},
        {R"~({{ 'a-b-c'|replace('-', '+') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 2.567|round(1) }}|{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.567|round(1, 'floor') }}|{{ -3|abs }})~",
         R"~(a+b+c|bba|2.6|2.0|4.0|2.5|3)~"},
        {R"~({{ 'hello'|reverse }}|{{ l|reverse|list }}|{{ 'a b  c'|wordcount }}|{{ 'abcdefghij'|truncate(7) }}|{{ 'hello world foo bar baz qux'|truncate(15) }}|{{ 'x'|center(5) }}|{{ '%s-%d'|format('a', 3) }})~",
         R"~(olleh|[2, 1, 3]|3|abcdefghij|hello world...|  x  |a-3)~"},
        {R"~({{ l|batch(2)|list }}|{{ l|slice(2)|list }}|{{ words|unique|list }}|{{ l|count }}|{{ d|length }}|{{ d|list }}|{{ 'ab'|list }}|{{ l|pprint }})~",
         R"~([[3, 1], [2]]|[[3, 1], [2]]|['apple', 'Banana', 'cherry']|3|2|['b', 'a']|['a', 'b']|[3, 1, 2])~"},
        {R"~({{ '<a>'|e }}|{{ '<a>'|safe }}|{{ ('<'|safe) + '<' }}|{{ '<' + ('<'|safe) }}|{{ ('<'|safe) ~ '<' }})~",
         R"~(&lt;a&gt;|<a>|<&lt;|&lt;<|<<)~"},
    });
}

TEST(JinjaConstructs, ToJson) {
    expect_renders({
        {R"~({{ d|tojson }}|{{ msgs[2]|tojson }}|{{ u|tojson }}|{{ 'a"b\\c\n\t\u0001\u007f'|tojson }}|{{ f|tojson }}|{{ [1.0, 1e100, 0.5]|tojson }}|{{ none|tojson }}|{{ (1, 2)|tojson }})~",
         R"~({"b": 2, "a": 1}|{"role": "assistant", "content": "Hello!", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1, "y": [1.5, null, false]}}}]}|"héllo ✓"|"a\"b\\c\n\t\u0001"|2.5|[1.0, 1e+100, 0.5]|null|[1, 2])~"},
        {R"~({{ d|tojson(indent=2) }}|{{ d|tojson(indent=0) }}|{{ [] | tojson(indent=2) }}|{{ {'a': {}}|tojson(indent='\t') }})~",
         "{\n  \"b\": 2,\n  \"a\": 1\n}|{\n\"b\": 2,\n\"a\": 1\n}|[]|{\n\t\"a\": {}\n}"},
        {R"~({{ d|tojson(sort_keys=true) }}|{{ u|tojson(ensure_ascii=true) }}|{{ '😀'|tojson(ensure_ascii=true) }}|{{ d|tojson(separators=(',', ':')) }})~",
         R"~({"a": 1, "b": 2}|"h\u00e9llo \u2713"|"\ud83d\ude00"|{"b":2,"a":1})~"},
        {R"~({{ {1: 'a', true: 'b', none: 'c'}|tojson }})~", R"~({"1": "b", "null": "c"})~"},
    });
}

TEST(JinjaConstructs, ForLoops) {
    expect_renders({
        {R"~({% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }},{% endfor %})~",
         R"~(1032TrueFalse3,2121FalseFalse3,3210FalseTrue3,)~"},
        {R"~({% for x in l %}{{ loop.previtem }}/{{ loop.nextitem }};{% endfor %})~", R"~(/1;3/2;1/;)~"},
        {R"~({% for x in l if x > 1 %}{{ x }}{{ loop.length }}{% else %}none{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %})~",
         R"~(3222|empty)~"},
        {R"~({% for x in l %}{% if x == 1 %}{% break %}{% endif %}{{ x }}{% endfor %}|{% for x in l %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %})~",
         R"~(3|32)~"},
        {R"~({% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}|{% for x in l %}{{ loop.cycle('a', 'b') }}{% endfor %}|{% for x in [1, 1, 2] %}{{ loop.changed(x) }}{% endfor %})~",
         R"~(37|aba|TrueFalseTrue)~"},
        {R"~({% for i in range(2) %}{% for j in range(2) %}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %})~",
         R"~(121122)~"},
        {R"~({% for c in 'héy' %}[{{ c }}]{% endfor %}|{% for x in missing %}x{% endfor %}|{% for i in range(1, 10, 3) %}{{ i }}{% endfor %}|{% for k in d %}{{ k }}{% endfor %})~",
         R"~([h][é][y]||147|ba)~"},
    });
}

TEST(JinjaConstructs, SetAndScoping) {
    expect_renders({
        {R"~({% set x = 1 %}{% for i in range(3) %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }})~", R"~(1231)~"},
        {R"~({% for i in range(2) %}{% set y = i %}{% endfor %}{{ y }})~", R"~()~"},
        {R"~({% if true %}{% set q = 5 %}{% endif %}{{ q }})~", R"~(5)~"},
        {R"~({% set ns = namespace(x=0, items=[]) %}{% for i in range(3) %}{% set ns.x = ns.x + i %}{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.x }}|{{ ns.items }})~",
         R"~(3|[0, 1, 2])~"},
        {R"~({% set ns = namespace(d) %}{{ ns.a }}{{ ns['b'] }}{{ ns.c is defined }})~", R"~(12False)~"},
        {R"~({% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set t = 1, 2 %}{{ t }})~", R"~(12|(1, 2))~"},
        {R"~({% set x %}block {{ n }}{% endset %}[{{ x }}]|{% set y | upper %}up{% endset %}{{ y }})~",
         R"~([block 7]|UP)~"},
        {R"~({% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }})~", R"~(3)~"},
        {R"~({{ dict(a=1, b='c') }}|{{ dict([('k', 1)]) }})~", R"~({'a': 1, 'b': 'c'}|{'k': 1})~"},
    });
}

TEST(JinjaConstructs, Macros) {
    expect_renders({
        {R"~({% macro m(a, b='d', c=none) %}[{{ a }}|{{ b }}|{{ c }}]{% endmacro %}{{ m(1) }}{{ m(1, 2, 3) }}{{ m(a=5, c=6) }}{{ m() }})~",
         R"~([1|d|None][1|2|3][5|d|6][|d|None])~"},
        {R"~({% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, x=3) }})~", R"~((1, 2){'x': 3})~"},
        {R"~({% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k }}*{{ fact(k - 1) }}{% endif %}{% endmacro %}{{ fact(4) }})~",
         R"~(4*3*2*1)~"},
        {R"~({% macro m() %}{% set inner = 1 %}{{ inner }}{% endmacro %}{{ m() }}{{ inner }})~", R"~(1)~"},
        {R"~({% set x = 1 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ m() }})~", R"~(2)~"},
    });
}

TEST(JinjaConstructs, CallFilterAndGenerationBlocks) {
    expect_renders({
        {R"~({% macro outer() %}<{{ caller() }}>{% endmacro %}{% call outer() %}inner{{ n }}{% endcall %})~",
         R"~(<inner7>)~"},
        {R"~({% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}({{ x }}){% endcall %})~",
         R"~((1)(2))~"},
        {R"~({% filter upper %}abc {{ n }}{% endfilter %})~", R"~(ABC 7)~"},
        {R"~({% filter trim|upper %}  x  {% endfilter %}|)~", R"~(X|)~"},
        {R"~({% generation %}gen {{ n }}{% endgeneration %})~", R"~(gen 7)~"},
    });
}

TEST(JinjaConstructs, Globals) {
    expect_renders({
        {R"~({{ strftime_now('%Y-%m-%d %H:%M:%S %a %b %d %j %A %B %p %I') }})~",
         R"~(2025-07-26 14:30:05 Sat Jul 26 207 Saturday July PM 02)~"},
        {R"~({{ strftime_now('%d %B %Y') }})~", R"~(26 July 2025)~"},
        {R"~({% set j = joiner(', ') %}{% for x in l %}{{ j() }}{{ x }}{% endfor %})~", R"~(3, 1, 2)~"},
        {R"~({{ range(3)|list }}|{{ range(5, 0, -2)|list }})~", R"~([0, 1, 2]|[5, 3, 1])~"},
        {R"~({% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }})~", R"~(abab)~"},
        {R"~({{ namespace(a=1).a }})~", R"~(1)~"},
    });
}

TEST(JinjaConstructs, Generators) {
    expect_renders({
        {R"~({% set g = l|select('odd') %}{{ g|list }}{{ g|list }})~", R"~([3, 1][])~"},
        {R"~({% if [] | select('odd') %}truthy{% endif %})~", R"~(truthy)~"},
        {R"~({{ (l|select('odd'))|first }})~", R"~(3)~"},
        {R"~({{ l|map('string')|map('int')|sum }})~", R"~(6)~"},
    });
}
TEST(JinjaConstructs, RecursiveLoops) {
    expect_renders({
        {R"~({% for x in [{"name": "a", "children": [{"name": "b", "children": []}, {"name": "c", "children": [{"name": "d", "children": []}]}]}] recursive %}{{ x.name }}{{ loop.depth }}{% if x.children %}({{ loop(x.children) }}){% endif %}{% endfor %})~",
         R"~(a1(b2c2(d3)))~"},
        {R"~({% for x in [[1, [2, 3]], 4] recursive %}{% if x is iterable %}[{{ loop(x) }}]{% else %}{{ x }}@{{ loop.depth0 }}{% endif %}{% endfor %})~",
         R"~([1@1[2@23@2]]4@0)~"},
    });
}

TEST(JinjaConstructs, MoreStringMethods) {
    expect_renders({
        {R"~({{ 'Hello'.swapcase() }}|{{ 'a\tbc\td'.expandtabs(4) }}|{{ 'x'.removeprefix('x') }}{{ 'ab'.removesuffix('b') }}|{{ 'a-b'.rpartition('-') }})~",
         R"~(hELLO|a   bc  d|a|('a', '-', 'b'))~"},
    });
}

// ---------------------------------------------------------------------------
// Errors: Lumen fails wherever Python's jinja2 raises, with the template's line and column

TEST(JinjaErrors, RuntimeErrorsMatchPython) {
    expect_error("{{ z + 'a' }}", "unsupported operand type(s) for +: 'NoneType' and 'str'");
    expect_error("{{ 1 + 'a' }}", "unsupported operand type(s) for +: 'int' and 'str'");
    expect_error("{{ 1 / 0 }}", "ZeroDivisionError");
    expect_error("{{ [].append(1) }}", "access to attribute 'append' of 'list' object is unsafe");
    expect_error("{{ d.update({}) }}", "access to attribute 'update' of 'dict' object is unsafe");
    expect_error("{% for x in z %}{% endfor %}", "'NoneType' object is not iterable");
    expect_error("{{ l|select('odd')|length }}", "object of type 'generator' has no len()");
    expect_error("{{ missing() }}", "'missing' is undefined");
    expect_error("{{ n() }}", "'int' object is not callable");
    expect_error("{% set a, b = [1] %}", "not enough values to unpack (expected 2, got 1)");
    expect_error("{% set n.x = 1 %}", "cannot assign attribute on non-namespace object");
    expect_error("{{ 'a' < 1 }}", "'<' not supported between instances of 'str' and 'int'");
    expect_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", "macro 'm' takes not more than 1 argument(s)");
    expect_error("{{ missing.attr }}", "'missing' is undefined");
    expect_error("{{ d.nope.deeper }}", "'dict object' has no attribute 'nope'");
    expect_error("{{ missing|tojson }}", "Object of type Undefined is not JSON serializable");
    expect_error("{% if x is nosuchtest %}{% endif %}", "No test named 'nosuchtest' found");
}

TEST(JinjaErrors, RaiseExceptionCarriesTheMessageAndPosition) {
    const std::string message = expect_error("a\n\n  {{ raise_exception('bad role') }}", "TemplateError: bad role");
    EXPECT_NE(message.find("line 3, column 6"), std::string::npos) << message;
}

TEST(JinjaErrors, ErrorsNameLineAndColumn) {
    const std::string runtime = expect_error("line1\n{% if true %}\n  {{ n + 'x' }}{% endif %}", "unsupported operand");
    EXPECT_NE(runtime.find("line 3"), std::string::npos) << runtime;
    const std::string syntax = expect_error("ok\n{{ 1 + }}", "unexpected end of print statement");
    EXPECT_NE(syntax.find("line 2, column 8"), std::string::npos) << syntax;
}

TEST(JinjaErrors, MalformedTemplatesFailToParse) {
    expect_error("{% if true %}never closed", "expected 'elif', 'else' or 'endif'");
    expect_error("{% for x in l %}{{ x }}", "expected 'endfor' or 'else'");
    expect_error("{% macro m() %}", "'endmacro'");
    expect_error("{% endif %}", "unknown tag 'endif'");
    expect_error("{% if true %}{% endfor %}{% endif %}", "unknown tag 'endfor'");
    expect_error("{# never closed", "Missing end of comment tag");
    expect_error("{% raw %}never closed", "Missing end of raw directive");
    expect_error("{{ 'unterminated }}", "unexpected char");
    expect_error("{{ (1 + 2 }}", "unexpected '}', expected ')'");
    expect_error("{{ x", "expected end of print statement");
    expect_error("{% for %}", "expected an expression");
    expect_error("{% break %}", "'break' outside of a loop");
    expect_error("{% include 'other.jinja' %}", "unknown tag 'include'");
    expect_error("{% do x %}", "unknown tag 'do'");  // transformers does not enable jinja2.ext.do
}

TEST(JinjaErrors, UnknownFilterFailsAtParseUnlessInsideAnIf) {
    // jinja2 checks filter names when it compiles, except inside if statements and
    // conditional expressions, where only running the filter fails.
    expect_error("{{ x|nosuchfilter }}", "No filter named 'nosuchfilter'");
    expect_error(
        "{% for m in msgs %}{% if false %}{{ m|nosuchfilter }}{% endif %}{% endfor %}{% macro f() %}{{ 1|nosuchfilter "
        "}}{% endmacro %}",
        "No filter named 'nosuchfilter'");
    const auto skipped = render_chat_template("{% if false %}{{ x|nosuchfilter }}{% endif %}ok", test_context());
    ASSERT_TRUE(skipped) << skipped.status().message();
    EXPECT_EQ(skipped.value(), "ok");
    expect_error("{% if true %}{{ x|nosuchfilter }}{% endif %}", "No filter named 'nosuchfilter' found");
}

// ---------------------------------------------------------------------------
// Hostile templates: each stops with a clear error, quickly

namespace {

void expect_stopped(const std::string& source, const std::string& fragment, const JinjaOptions& options = {},
                    const Json& context = test_context()) {
    const auto start = std::chrono::steady_clock::now();
    const auto out = render_chat_template(source, context, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_FALSE(out) << source.substr(0, 80);
    EXPECT_NE(out.status().message().find(fragment), std::string::npos)
        << source.substr(0, 80) << "\n  message: " << out.status().message();
    EXPECT_LT(seconds, 20.0) << source.substr(0, 80);
}

std::string repeated(const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}

}  // namespace

TEST(JinjaLimits, InfiniteRecursionStops) {
    expect_stopped("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macro calls nested more than 100 deep");
    expect_stopped("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "RecursionError");
}

TEST(JinjaLimits, HugeLoopsStop) {
    // The sandbox's MAX_RANGE, as in Python.
    expect_stopped("{% for i in range(1000000000) %}{% endfor %}", "Range too big");
    expect_stopped("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                   "more than 1000000 loop iterations and macro calls");
    // Exponential fan-out within the recursion depth limit.
    expect_stopped("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
                   "loop iterations and macro calls");
}

TEST(JinjaLimits, RunawayStringsStop) {
    expect_stopped("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                   "exceeds the 33554432-byte output limit");
    expect_stopped("{{ 'x' * 1000000000000 }}", "output limit");
    expect_stopped("{{ [1] * 1000000000 }}", "exceeds the limit of 1000000");
    // Quadratic growth: each step copies the whole string.
    expect_stopped("{% set ns = namespace(s='') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ '" +
                       repeated("x", 200) + "' %}{% endfor %}",
                   "bytes of strings");
    JinjaOptions small;
    small.max_output_bytes = 1000;
    expect_stopped("{% for i in range(200) %}0123456789{% endfor %}", "exceeds the 1000-byte limit", small);
}

TEST(JinjaLimits, DeepNestingStops) {
    expect_stopped("{{ " + repeated("(", 100000) + "1" + repeated(")", 100000) + " }}", "levels deep");
    expect_stopped(repeated("{% if true %}", 10000), "levels deep");
    // Python builds this and fails to print it; Lumen refuses to build it past 1000 levels,
    // so that destroying it cannot overflow the stack.
    expect_stopped("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}",
                   "nested more than 1000 levels deep");
    expect_stopped(
        "{% set ns = namespace(l=[]) %}{% for i in range(500) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}",
        "RecursionError");
    Json deep = Json::array();
    for (int i = 0; i < 2000; ++i) {
        Json outer = Json::array();
        outer.push_back(std::move(deep));
        deep = std::move(outer);
    }
    expect_stopped("{{ deep }}", "RecursionError", {}, Json{{"deep", deep}});
}

// ---------------------------------------------------------------------------
// API

TEST(JinjaApi, ParseOnceRenderMany) {
    const auto tmpl = JinjaTemplate::parse(
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% "
        "endif %}");
    ASSERT_TRUE(tmpl) << tmpl.status().message();
    Json one = {{"messages", Json::array({{{"role", "user"}, {"content", "hi"}}})}, {"add_generation_prompt", true}};
    Json two = {
        {"messages", Json::array({{{"role", "system"}, {"content", "s"}}, {{"role", "user"}, {"content", "q"}}})},
        {"add_generation_prompt", false}};
    EXPECT_EQ(tmpl->render(one).value(), "<user>hi<assistant>");
    EXPECT_EQ(tmpl->render(two).value(), "<system>s<user>q");
}

TEST(JinjaApi, ContextKeepsKeyOrder) {
    const Json context = Json::parse(R"({"tool": {"zeta": 1, "alpha": 2, "mid": {"b": 1, "a": 2}}})");
    EXPECT_EQ(render_chat_template("{{ tool|tojson }}|{% for k in tool %}{{ k }}{% endfor %}", context).value(),
              R"({"zeta": 1, "alpha": 2, "mid": {"b": 1, "a": 2}}|zetaalphamid)");
}

TEST(JinjaApi, BadContextAndUnparsedTemplateAreErrors) {
    EXPECT_FALSE(render_chat_template("x", Json::array()));
    EXPECT_FALSE(JinjaTemplate().render(Json::object()));
}

TEST(JinjaApi, StrftimeNowUsesTheClockWhenNoneIsFixed) {
    const auto out = render_chat_template("{{ strftime_now('%Y') }}", Json::object());
    ASSERT_TRUE(out) << out.status().message();
    ASSERT_EQ(out.value().size(), 4u);
    EXPECT_GE(std::stoi(out.value()), 2025);
}

TEST(JinjaApi, TrailingNewlineAndLineEndings) {
    // keep_trailing_newline=False drops one final newline; \r\n and \r read as \n.
    EXPECT_EQ(render_chat_template("a\r\nb\n\n", Json::object()).value(), "a\nb\n");
    JinjaOptions plain;
    plain.trim_blocks = false;
    plain.lstrip_blocks = false;
    EXPECT_EQ(render_chat_template("  {% if true %}\nx{% endif %}", Json::object(), plain).value(), "  \nx");
    EXPECT_EQ(render_chat_template("  {% if true %}\nx{% endif %}", Json::object()).value(), "x");
}
