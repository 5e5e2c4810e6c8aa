var builder = WebApplication.CreateBuilder(args);
builder.AddMeasureAppServices();

var app = builder.Build();
app.MapMeasureAppEndpoints();
app.Run();

/// <summary>Entry point (public for WebApplicationFactory).</summary>
public partial class Program;
