# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 the mod_protime authors

use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest;
use ProtimeTest;
use HTTP::Request ();
use IO::Compress::Gzip qw(gzip $GzipError);

# Methods and transport of the protime-webhook handler (SPEC 3): 405 for
# other methods, 415 for content types that are not JSON, 413 for bodies
# over ProtimeMaxBodySize (also chunked), 415 for content codings and 501
# for transfer codings other than chunked, nothing stored on a refusal, and
# no walk of the file system for the handler.
# Event ids 100000 and up.

plan tests => 89, need_lwp;

my $next_id = 100000;
sub next_id { return ++$next_id }

# After every refusal the server must still take a normal delivery.
sub still_answers {
    my ($after) = @_;
    my $id = next_id();
    my $res = deliver(event($id, '0001'));
    ok t_cmp($res->code, 204, "after $after: a valid delivery still gets 204");
}

# Builds a raw HTTP/1.1 request. A body given as chunks goes out with
# Transfer-Encoding: chunked; otherwise with Content-Length.
sub raw_request {
    my (%o) = @_;
    my $req = "$o{method} $o{path} HTTP/1.1\r\n"
            . 'Host: ' . Apache::TestRequest::hostport() . "\r\n"
            . "Connection: close\r\n";
    my @h = @{ $o{headers} || [] };
    while (my ($k, $v) = splice @h, 0, 2) {
        $req .= "$k: $v\r\n";
    }
    if ($o{chunks}) {
        $req .= "Transfer-Encoding: chunked\r\n\r\n";
        $req .= sprintf("%x\r\n%s\r\n", length $_, $_) for @{ $o{chunks} };
        $req .= "0\r\n\r\n";
    }
    else {
        my $body = $o{body} // '';
        $req .= 'Content-Length: ' . length($body) . "\r\n\r\n" . $body;
    }
    return $req;
}

# Splits a string into pieces of at most $n bytes.
sub pieces {
    my ($s, $n) = @_;
    return ($s =~ /(.{1,$n})/gs);
}

# A JSON event padded with blanks after the opening brace to exactly $size
# bytes.
sub padded_event {
    my ($id, $size) = @_;
    my $json = json_of(event($id, '0001'));
    die "event too long for $size bytes" if length $json > $size;
    substr($json, 1, 0) = ' ' x ($size - length $json);
    return $json;
}

# ---------------------------------------------------------------- methods

{
    my $id = next_id();
    my $body = json_of(event($id, '0001'));

    my $log_start = error_log_size();
    my $res = GET '/hook';
    ok t_cmp($res->code, 405, 'GET /hook: 405');
    ok t_cmp(error_log_since($log_start), qr/PT00311: request refused: method GET/,
             'GET /hook: logged, with the method');
    ok t_cmp($res->header('Allow') // '', qr/\bPOST\b/,
             'GET /hook: Allow names POST');
    still_answers('GET');

    $res = PUT '/hook', content => $body,
        'Content-Type' => 'application/json',
        'X-Protime-Signature' => sign($body);
    ok t_cmp($res->code, 405, 'PUT /hook with a signed event: 405');
    ok t_cmp($res->header('Allow') // '', qr/\bPOST\b/,
             'PUT /hook: Allow names POST');
    ok t_cmp(row($id), undef, 'PUT /hook: nothing stored');
    still_answers('PUT');

    my $req = HTTP::Request->new(DELETE =>
        Apache::TestRequest::resolve_url('/hook'),
        [ 'Content-Type' => 'application/json',
          'X-Protime-Signature' => sign($body) ], $body);
    $res = Apache::TestRequest::user_agent()->request($req);
    ok t_cmp($res->code, 405, 'DELETE /hook with a signed event: 405');
    ok t_cmp($res->header('Allow') // '', qr/\bPOST\b/,
             'DELETE /hook: Allow names POST');
    ok t_cmp(row($id), undef, 'DELETE /hook: nothing stored');
    still_answers('DELETE');
}

# ----------------------------------------------------------- content types

for my $ct ('application/json', 'application/json; charset=utf-8',
            'application/vnd.protime+json') {
    my $id = next_id();
    my $res = deliver(event($id, '0001'), content_type => $ct);
    ok t_cmp($res->code, 204, "Content-Type $ct: 204");
    my $row = row($id);
    ok t_cmp($row && $row->{change_version}, '0001',
             "Content-Type $ct: the row is stored");
}

{
    # LWP would add application/x-www-form-urlencoded, so a raw request.
    my $id = next_id();
    my $body = json_of(event($id, '0001'));
    my $code = deliver_raw(raw_request(method => 'POST', path => '/hook',
        headers => [ 'X-Protime-Signature' => sign($body) ], body => $body));
    ok t_cmp($code, 204, 'no Content-Type: 204');
    my $row = row($id);
    ok t_cmp($row && $row->{change_version}, '0001',
             'no Content-Type: the row is stored');
}

for my $ct ('text/plain', 'application/xml', 'application/jsonx',
            'multipart/form-data; boundary=xyz') {
    my $id = next_id();
    my $res = deliver(event($id, '0001'), content_type => $ct);
    ok t_cmp($res->code, 415, "Content-Type $ct: 415");
    ok t_cmp(row($id), undef, "Content-Type $ct: nothing stored");
    still_answers("a 415 for $ct");
}

# ---------------------------------------------------------- content codings

{
    # Not decoded by the module: 415 naming what it takes, however signed.
    my $id = next_id();
    my $json = json_of(event($id, '0001'));
    gzip(\$json => \(my $gz)) or die $GzipError;
    for my $signed ([ 'the bytes sent', sign($gz) ], [ 'the JSON', sign($json) ]) {
        my $res = deliver($gz, signature => $signed->[1],
                          headers => { 'Content-Encoding' => 'gzip' });
        ok t_cmp($res->code, 415, "gzip body signed over $signed->[0]: 415");
        ok t_cmp($res->header('Accept-Encoding') // '', 'identity',
                 "gzip body signed over $signed->[0]: Accept-Encoding: identity");
    }
    ok t_cmp(row($id), undef, 'a gzip body: nothing stored');
    still_answers('a 415 for Content-Encoding gzip');

    # With SetInputFilter DEFLATE, mod_deflate inflates it first: the
    # signature is checked over the JSON.
    my $res = deliver($gz, path => '/hook-inflate', signature => sign($json),
                      headers => { 'Content-Encoding' => 'gzip' });
    ok t_cmp($res->code, 204, 'gzip body through SetInputFilter DEFLATE: 204');
    my $row = row($id);
    ok t_cmp($row && $row->{change_version}, '0001',
             'gzip body through SetInputFilter DEFLATE: the row is stored');
    $res = deliver($gz, path => '/hook-inflate', signature => sign($gz),
                   headers => { 'Content-Encoding' => 'gzip' });
    ok t_cmp($res->code, 401,
             'through SetInputFilter DEFLATE, a signature over the gzip bytes: 401');

    # ProtimeMaxBodySize (1M here) counts the inflated bytes.
    $id = next_id();
    my $big = json_of(event($id, '0001',
        note => join('', map { sprintf '%08x', int rand 2**32 } 1 .. 140_000)));
    gzip(\$big => \(my $bigz)) or die $GzipError;
    $res = deliver($bigz, path => '/hook-inflate', signature => sign($big),
                   headers => { 'Content-Encoding' => 'gzip' });
    ok t_cmp(length($bigz) < 1048576 && length($big) > 1048576 ? $res->code : 'bad test',
             413, 'a gzip body of under 1M that inflates to over 1M: 413');
    ok t_cmp(row($id), undef, 'a gzip body that inflates to over 1M: nothing stored');

    # The filter steps aside for a body that is not compressed.
    $id = next_id();
    $res = deliver(event($id, '0001'), path => '/hook-inflate');
    ok t_cmp($res->code, 204, 'a plain body where SetInputFilter DEFLATE is set: 204');
    $row = row($id);
    ok t_cmp($row && $row->{change_version}, '0001',
             'a plain body where SetInputFilter DEFLATE is set: the row is stored');
}

{
    # httpd takes the chunks off "gzip, chunked"; the module refuses what
    # is left rather than check a signature over compressed bytes.
    my $id = next_id();
    my $body = json_of(event($id, '0001'));
    my $req = "POST /hook HTTP/1.1\r\nHost: " . Apache::TestRequest::hostport()
            . "\r\nConnection: close\r\nContent-Type: application/json\r\n"
            . 'X-Protime-Signature: ' . sign($body) . "\r\n"
            . "Transfer-Encoding: gzip, chunked\r\n\r\n"
            . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $body, $body);
    ok t_cmp(deliver_raw($req), 501, 'Transfer-Encoding: gzip, chunked: 501');
    ok t_cmp(row($id), undef, 'Transfer-Encoding: gzip, chunked: nothing stored');
    still_answers('a 501 for Transfer-Encoding gzip, chunked');
}

# -------------------------------------------------------------- body size

{
    # One byte over the limit of /hook-small (1K), with Content-Length.
    my $id = next_id();
    my $body = padded_event($id, 1025);
    my $res = deliver($body, path => '/hook-small');
    ok t_cmp($res->code, 413, '1025 bytes with Content-Length: 413');
    ok t_cmp(row($id), undef, '1025 bytes with Content-Length: nothing stored');
    still_answers('a 413 for 1025 bytes');

    $id = next_id();
    $body = padded_event($id, 64 * 1024);
    $res = deliver($body, path => '/hook-small');
    ok t_cmp($res->code, 413, '64K with Content-Length: 413');
    ok t_cmp(row($id), undef, '64K with Content-Length: nothing stored');
    still_answers('a 413 for 64K');
}

{
    # Exactly at the limit.
    my $id = next_id();
    my $body = padded_event($id, 1024);
    ok t_cmp(length $body, 1024, 'the padded body is 1024 bytes');
    my $res = deliver($body, path => '/hook-small');
    ok t_cmp($res->code, 204, '1024 bytes with Content-Length: 204');
    my $row = row($id);
    ok t_cmp($row && $row->{change_version}, '0001',
             '1024 bytes with Content-Length: stored');
}

{
    # Chunked, one byte over the limit, in several chunks.
    my $id = next_id();
    my $body = padded_event($id, 1025);
    my $code = deliver_raw(raw_request(method => 'POST', path => '/hook-small',
        headers => [ 'Content-Type' => 'application/json',
                     'X-Protime-Signature' => sign($body) ],
        chunks => [ pieces($body, 300) ]));
    ok t_cmp($code, 413, 'chunked 1025 bytes: 413');
    ok t_cmp(row($id), undef, 'chunked 1025 bytes: nothing stored');
    still_answers('a 413 for a chunked 1025 bytes');

    # Chunked, far over the limit, in one chunk.
    $id = next_id();
    $body = padded_event($id, 16 * 1024);
    $code = deliver_raw(raw_request(method => 'POST', path => '/hook-small',
        headers => [ 'Content-Type' => 'application/json',
                     'X-Protime-Signature' => sign($body) ],
        chunks => [ $body ]));
    ok t_cmp($code, 413, 'chunked 16K in one chunk: 413');
    ok t_cmp(row($id), undef, 'chunked 16K in one chunk: nothing stored');
    still_answers('a 413 for a chunked 16K');
}

{
    # Chunked under the limit, in small chunks.
    my $id = next_id();
    my $body = json_of(event($id, '0001'));
    my $code = deliver_raw(raw_request(method => 'POST', path => '/hook-small',
        headers => [ 'Content-Type' => 'application/json',
                     'X-Protime-Signature' => sign($body) ],
        chunks => [ pieces($body, 50) ]));
    ok t_cmp($code, 204, 'chunked body under the limit: 204');
    my $row = row($id);
    ok t_cmp($row && $row->{change_version}, '0001',
             'chunked body under the limit: stored');

    # Chunked, exactly at the limit.
    $id = next_id();
    $body = padded_event($id, 1024);
    $code = deliver_raw(raw_request(method => 'POST', path => '/hook-small',
        headers => [ 'Content-Type' => 'application/json',
                     'X-Protime-Signature' => sign($body) ],
        chunks => [ pieces($body, 256) ]));
    ok t_cmp($code, 204, 'chunked 1024 bytes: 204');
    $row = row($id);
    ok t_cmp($row && $row->{change_version}, '0001', 'chunked 1024 bytes: stored');

    # Chunked on /hook (default limit 1M): a body bigger than one read.
    $id = next_id();
    $body = padded_event($id, 40000);
    $code = deliver_raw(raw_request(method => 'POST', path => '/hook',
        headers => [ 'Content-Type' => 'application/json',
                     'X-Protime-Signature' => sign($body) ],
        chunks => [ pieces($body, 7000) ]));
    ok t_cmp($code, 204, 'chunked 40000 bytes on /hook: 204');
    $row = row($id);
    ok t_cmp($row && $row->{change_version}, '0001',
             'chunked 40000 bytes on /hook: stored');

    # A chunked body signed for other bytes is refused: the signature covers
    # the de-chunked body, not the wire bytes.
    $id = next_id();
    $body = json_of(event($id, '0001'));
    $code = deliver_raw(raw_request(method => 'POST', path => '/hook',
        headers => [ 'Content-Type' => 'application/json',
                     'X-Protime-Signature' => sign($body . ' ') ],
        chunks => [ pieces($body, 50) ]));
    ok t_cmp($code, 401, 'chunked body with a signature of other bytes: 401');
    ok t_cmp(row($id), undef, 'chunked body with a wrong signature: not stored');
}

# ------------------------------------------------------------- empty body

{
    my $q = quarantine_max();
    my $res = deliver('');
    ok t_cmp($res->code, 202, 'a signed empty body: 202');
    my $answer = eval { JSON::PP::decode_json($res->content) } || {};
    ok t_cmp($answer->{quarantined}, 1, 'the 202 answer counts 1 quarantined');
    ok t_cmp($answer->{applied}, 0, 'the 202 answer counts 0 applied');
    my $rows = quarantine_since($q);
    ok t_cmp(scalar @$rows, 1, 'the empty body is in the quarantine');
    still_answers('an empty body');

    # Unsigned, it is just refused.
    $res = deliver('', signature => undef);
    ok t_cmp($res->code, 401, 'an unsigned empty body: 401');
    ok t_cmp(scalar @{ quarantine_since($q) }, 1,
             'an unsigned empty body is not quarantined');
}

{
    # A correctly signed body that is not JSON at all goes to the quarantine
    # verbatim.
    my $q = quarantine_max();
    my $body = "not json \x01\x02";
    my $res = deliver($body);
    ok t_cmp($res->code, 202, 'a signed body that is not JSON: 202');
    my $rows = quarantine_since($q);
    ok t_cmp(scalar @$rows, 1, 'it is in the quarantine');
    my ($col) = grep { defined $rows->[0]{$_} && $rows->[0]{$_} eq $body }
                keys %{ $rows->[0] || {} };
    ok t_cmp(defined $col ? 1 : 0, 1, 'the quarantine keeps the body verbatim');
}

# ------------------------------- a refusal on a keep-alive connection

{
    # Two deliveries on one keep-alive connection, the first refused with
    # 415: the second is still answered on that connection.
    my $id1 = next_id();
    my $id2 = next_id();
    my $b1 = json_of(event($id1, '0001'));
    my $b2 = json_of(event($id2, '0001'));
    my $host = Apache::TestRequest::hostport();
    my $req = "POST /hook HTTP/1.1\r\nHost: $host\r\n"
            . "Content-Type: text/plain\r\nX-Protime-Signature: " . sign($b1)
            . "\r\nContent-Length: " . length($b1) . "\r\n\r\n$b1"
            . "POST /hook HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n"
            . "Content-Type: application/json\r\nX-Protime-Signature: "
            . sign($b2) . "\r\nContent-Length: " . length($b2) . "\r\n\r\n$b2";
    my $sock = Apache::TestRequest::vhost_socket() or die "no socket";
    print $sock $req;
    local $/;
    my $answer = <$sock> // '';
    close $sock;
    my @codes = $answer =~ m{^HTTP/1\.\d (\d{3})}mg;
    ok t_cmp("@codes", '415 204', 'pipelined 415 then a valid delivery');
    ok t_cmp(row($id1), undef, 'the pipelined 415 stored nothing');
    my $row = row($id2);
    ok t_cmp($row && $row->{change_version}, '0001',
             'the pipelined valid delivery is stored');
}

# ------------------------------- no walk of the file system

{
    # /walk is an Alias of a directory that a <Directory> section closes;
    # /walk/hook is a webhook <Location> inside it. The handler has no file
    # behind it and the module skips core's file-system walk for it, so the
    # <Directory> section does not apply to it.
    my $res = Apache::TestRequest::GET('/walk/key-base64.txt');
    ok t_cmp($res->code, 403, 'a file under /walk: 403 from its <Directory>');
    my $id = next_id();
    $res = deliver(event($id, '0001'), path => '/walk/hook');
    ok t_cmp($res->code, 204, 'a webhook <Location> under /walk: 204');
    my $row = row($id);
    ok t_cmp($row && $row->{change_version}, '0001', 'and it is stored');
    # /walk/moved is a webhook <Location> too, but mod_rewrite passes the
    # request on to /walk/key-base64.txt: the walk happens, and refuses it.
    $res = Apache::TestRequest::GET('/walk/moved');
    ok t_cmp($res->code, 403, 'a webhook URL rewritten to a file: walked, 403');
    # TRACE stays with core, which answers it as TraceEnable says (on by
    # default), instead of the handler's 405.
    ok t_cmp(deliver_raw(raw_request(method => 'TRACE', path => '/walk/hook')),
             200, 'TRACE on the webhook is answered by core');
}
