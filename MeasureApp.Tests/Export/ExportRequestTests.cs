using MeasureApp.Export;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace MeasureApp.Tests.Export;

/// <summary>The typed export request and the download endpoint's query syntax it is read from.</summary>
public sealed class ExportRequestTests
{
    /// <summary>Reads a request written in the endpoint's query syntax (what tests use to say what they ask).</summary>
    internal static ExportRequest Parse(string query)
    {
        Assert.True(ExportRequest.TryParse(new QueryCollection(QueryHelpers.ParseQuery(query)), out var request, out var error), error);
        return request;
    }

    [Theory]
    [InlineData("format=csv&time=iso")]
    [InlineData("format=csv&channels=2,0&time=seconds&from=1.5&to=2.25")]
    [InlineData("format=parquet&channels=1&time=iso&compression=zstd&timeUnit=us&from=0&to=0.000000001")]
    public void ARequestReadFromItsQueryWritesTheSameQueryBack(string query) => Assert.Equal(query, Parse(query).ToQuery());

    [Fact]
    public void AnEmptyQueryIsTheDefaultExportOfEverything()
    {
        var request = Parse("");

        Assert.Equal(new ExportRequest(), request);
        Assert.Equal(ExportFormat.Csv, request.Format);
        Assert.Null(request.Channels);
        Assert.Null(request.From);
    }

    [Theory]
    [InlineData("format=xlsx", "Unknown format 'xlsx': use csv or parquet.")]
    [InlineData("compression=lz4", "Unknown compression 'lz4': use none, snappy or zstd.")]
    [InlineData("channels=0,x", "Channel 'x' is not a channel index.")]
    [InlineData("from=soon", "from 'soon' is not a number of seconds.")]
    [InlineData("to=NaN", "to 'NaN' is not a number of seconds.")]
    public void AMalformedValueIsRefusedWithAMessageNamingIt(string query, string message)
    {
        Assert.False(ExportRequest.TryParse(new QueryCollection(QueryHelpers.ParseQuery(query)), out _, out var error));
        Assert.Equal(message, error);
    }
}
